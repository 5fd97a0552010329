import type { Logger } from 'pino';
import type { Config } from '../config/load-config.js';

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);

/** Refuses settings that would expose the organisation's key or an open admin API, and warns about risky ones. */
export function checkAccessSettings(config: Config, log: Logger): void {
  if (!config.forward.token) {
    if (config.auth.callers !== 'header') {
      throw new Error(`auth.callers=${config.auth.callers} needs forward.token: a caller's proxy key must never be sent upstream`);
    }
    log.warn("NO forward.token IS SET: callers' own Authorization headers go to the upstream unchanged. Set FORWARD_TOKEN to inject the organisation's key.");
  }
  if (isLoopback(config.server.host) || config.admin.token !== undefined) return;
  if (!config.admin.open) {
    throw new Error(
      `server.host ${config.server.host} serves beyond this machine, and with no admin token anyone who reaches it could change prices ` +
        'and read all usage. Set admin.token (ADMIN_TOKEN) to protect the admin API, or set admin.open: true to run it open knowingly',
    );
  }
  log.warn({ host: config.server.host }, 'admin.open: the admin API is open to anyone who reaches this address (set admin.token to protect it)');
}
