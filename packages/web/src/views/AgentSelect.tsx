/** The labelled "Agent" picker the board's reward form, the credit form and the job form share. */
export function AgentSelect({ agents, value, onChange, name }: { agents: readonly string[]; value: string; onChange: (agent: string) => void; name: string }) {
  return (
    <label>
      Agent
      <select value={value} onChange={(e) => onChange(e.target.value)} name={name}>
        {agents.map((a) => (
          <option key={a}>{a}</option>
        ))}
      </select>
    </label>
  );
}
