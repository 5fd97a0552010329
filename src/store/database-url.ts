export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Understands a plain path and the sqlite:, file: and jdbc:sqlite: forms (the
 * original proxy taught `jdbc:sqlite:/var/lib/...`), and postgres:// URLs.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return { kind: 'postgres', url: trimmed };
  if (/^jdbc:postgresql:\/\//i.test(trimmed)) return { kind: 'postgres', url: trimmed.slice('jdbc:'.length) };
  const match = /^(?:jdbc:sqlite:|sqlite:|file:)(.*)$/i.exec(trimmed);
  let path = match ? match[1] : trimmed;
  // file:///abs/path and sqlite:///abs/path name an absolute path.
  if (match && path.startsWith('//')) path = path.replace(/^\/\/[^/]*/, '');
  path = path.split('?')[0];
  if (path === '') throw new Error(`database.url '${url}' names no file`);
  return { kind: 'sqlite', path };
}
