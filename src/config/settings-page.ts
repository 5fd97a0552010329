import { aliasRows, settingRows } from './settings-table.js';

const cell = (text: string) => text.replace(/\|/g, '\\|');
const code = (text: string) => `\`${cell(text)}\``;

/** docs/settings.md, generated from the key table by `npm run docs:settings`; a test keeps the file in step. */
export function settingsPage(): string {
  const alias = aliasRows()
    .map(({ alias, env }) => `\`${alias}\` (\`${env}\`)`)
    .join(', ');
  const rows = settingRows().map(
    (r) => `| ${code(r.key)} | ${code(r.flag)} | ${code(r.env)} | ${r.defaultIsValue ? code(r.default) : cell(r.default)} | ${cell(r.help)} |`,
  );
  return `<!-- Generated from src/config/keys.ts by \`npm run docs:settings\`; edit the key table, not this file. -->
# Settings

Every setting can be given in four places. From lowest to highest precedence:

1. the built-in default (below);
2. \`application.yaml\` (or \`application.yml\`) in the working directory, with nested or dotted keys;
3. an environment variable: the key in upper case, dots and dashes as underscores (\`forward.token\` is \`FORWARD_TOKEN\`);
4. a command-line flag: \`--server.port=9090\` or \`--server.port 9090\`.

\`openai-api-proxy --help\` prints this table; \`openai-api-proxy --version\` prints the version.

\`\`\`yaml
# application.yaml
forward:
  url: https://api.openai.com/v1
  token: sk-...            # better: FORWARD_TOKEN in the environment
database:
  url: /var/lib/openai-api-proxy/queries.db
server:
  port: 8080
  host: 127.0.0.1
\`\`\`

Durations take \`ms\`, \`s\`, \`m\`, \`h\` (a bare number is milliseconds); sizes take \`KB\`, \`MB\`, \`GB\` (a bare number is
bytes). An unknown key or a bad value stops start-up with a message naming the key and where it came from.

| key (also the yaml key) | flag | environment | default | meaning |
|---|---|---|---|---|
${rows.join('\n')}

The original Java proxy's ${alias} is read as \`database.url\`, including its JDBC forms
(\`jdbc:sqlite:PATH\`, \`jdbc:postgresql://...\`); within one source \`database.url\` wins, with a warning. The original's
other \`spring.*\` keys (\`spring.jpa.hibernate.ddl-auto\`, ...) are ignored with a warning. See
[coming from the Java proxy](coming-from-java.md).

\`database.url\` names an SQLite file (a path, \`sqlite:PATH\`, \`file:PATH\` or \`jdbc:sqlite:PATH\`) or a PostgreSQL
database (\`postgres://...\`, \`postgresql://...\`; see [PostgreSQL](postgresql.md)). The schema is created and migrated
at start-up; a proxy refuses to start on a database whose schema is newer than it knows. Where the journal lives and
what it is for: [reliability](reliability.md#when-the-database-fails-the-journal).

## Secrets

\`forward.token\` is never printed: not in a log line, an error or a response. A password in \`database.url\` (in the
URL's user part or a \`password=\` parameter) is shown as \`***\` wherever the proxy prints the URL. PostgreSQL also
takes the password from \`PGPASSWORD\`, which keeps it out of the URL altogether.
`;
}
