import type { AccessStore } from '../store/access-types.js';

/** What the key, budget and limit routes need. */
export interface AccessRouteDeps {
  access: AccessStore;
  /** budgets.timezone: the periods shown are the ones the proxy checks. */
  timeZone: string;
  /** Tells this instance's proxy to read budgets and limits afresh (other instances do within a second). */
  policiesChanged: () => void;
  now?: () => number;
}
