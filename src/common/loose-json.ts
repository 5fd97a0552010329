/**
 * Untrusted JSON (an upstream's answer, a caller's body) read by optional
 * chaining with a `typeof` check at each use: cheaper on the hot path than a
 * schema, and no value is trusted to have the type it claims.
 */
// biome-ignore lint/suspicious/noExplicitAny: each use checks the value's type before relying on it
export type LooseJson = any;
