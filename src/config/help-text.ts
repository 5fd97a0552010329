import { aliasRows, settingRows } from './settings-table.js';
import type { PackageInfo } from './package-info.js';

/** The text of `openai-api-proxy --help`: usage, then every setting of the key table. */
export function helpText({ version, description }: PackageInfo): string {
  const lines = [
    `openai-api-proxy ${version}: ${description}`,
    '',
    'Usage: openai-api-proxy [--key=value | --key value]...',
    '       openai-api-proxy --help | -h        print this text',
    '       openai-api-proxy --version | -v     print the version',
    '',
    'Settings, lowest precedence first: built-in default, application.yaml in the working directory (nested or',
    'dotted keys), environment variable, command-line flag. Durations take ms, s, m, h (a bare number is',
    'milliseconds); sizes take KB, MB, GB (a bare number is bytes).',
    '',
  ];
  for (const row of settingRows()) {
    lines.push(`  ${row.flag}`, `      ${row.help}`, `      env ${row.env}   yaml ${row.yamlKey}   default ${row.default}`, '');
  }
  for (const { alias, env, key } of aliasRows()) {
    lines.push(`The original Java proxy's ${alias} (${env}) is read as ${key}; other spring.* keys are ignored with a warning.`);
  }
  return `${lines.join('\n')}\n`;
}
