import { CONFIG_KEYS, KEY_ALIASES, envNameOf, type KeySpec } from './keys.js';
import { shownValue } from './shown-value.js';

/** One setting as `--help` and docs/settings.md present it. */
export interface SettingRow {
  key: string;
  flag: string;
  env: string;
  /** Dotted; application.yaml takes the nested form too. */
  yamlKey: string;
  default: string;
  /** False when `default` is words ("none", "beside the SQLite file ...") rather than a value to type. */
  defaultIsValue: boolean;
  help: string;
}

export function settingRows(): SettingRow[] {
  return Object.entries(CONFIG_KEYS).map(([key, spec]: [string, KeySpec]) => ({
    key,
    flag: `--${key}=${spec.value.placeholder}`,
    env: envNameOf(key),
    yamlKey: key,
    default: spec.defaultText ?? (spec.default === undefined ? 'none' : shownValue(spec, spec.default)),
    defaultIsValue: spec.defaultText === undefined && spec.default !== undefined,
    help: spec.help,
  }));
}

export const aliasRows = () => Object.entries(KEY_ALIASES).map(([alias, key]) => ({ alias, env: envNameOf(alias), key }));
