/** The one way an unknown thrown value becomes text for a log line or an error message. */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
