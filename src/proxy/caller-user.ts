import { ApiError } from '../http/errors.js';

const MAX_USER_LENGTH = 256;

/** The user a call is attributed to, from the x-user header. */
export function requireCallerUser(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  const user = value === undefined ? undefined : utf8Name(value).trim();
  if (!user) {
    throw new ApiError(401, 'missing_user', 'the x-user header is required: name the user this call is made for');
  }
  if (user.length > MAX_USER_LENGTH) {
    throw new ApiError(400, 'invalid_user', `the x-user header must be at most ${MAX_USER_LENGTH} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(user)) {
    throw new ApiError(400, 'invalid_user', 'the x-user header must not contain control characters');
  }
  return user;
}

/**
 * Node reads header bytes as latin1; clients send names such as "jürgen" as
 * UTF-8. Bytes that are valid UTF-8 are read as such, anything else stays latin1.
 */
function utf8Name(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\u0000-\u007f]/.test(value)) return value;
  const decoded = Buffer.from(value, 'latin1').toString('utf8');
  return decoded.includes('\uFFFD') ? value : decoded;
}
