/** The shape of the generated-client fixture's entry point, for the test that imports it at run time. */
export declare function useClient(
  baseUrl: string,
  token: string,
): Promise<{
  agentName: string | undefined;
  names: string[];
  replicas: number | undefined;
  missingCode: string | undefined;
  missingStatus: number;
  postId: string | undefined;
  tierNames: string[];
  auditActions: string[];
  reply: string | null | undefined;
  chatStatus: number;
  chatCode: string | undefined;
}>;
