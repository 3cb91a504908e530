import type { Villager } from '@aiflock/protocol';
/**
 * One villager: persona, tier, balance, last actions and logs. Refreshed every two seconds
 * while open, so a reward given on the board shows here without a reload.
 */
export declare function VillagerDetails({ name, world, onClose }: {
    name: string;
    world: Villager | null;
    onClose: () => void;
}): import("react").JSX.Element;
