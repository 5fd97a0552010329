import { helpText } from './help-text.js';
import { readPackageInfo } from './package-info.js';

const HELP = ['--help', '-h'];
const VERSION = ['--version', '-v'];

/** Answers `--help` and `--version` (wherever they stand among the arguments); true when one was answered. */
export function answerInfoFlags(argv: string[], write: (text: string) => void = (text) => process.stdout.write(text)): boolean {
  if (argv.some((arg) => HELP.includes(arg))) {
    write(helpText(readPackageInfo()));
    return true;
  }
  if (argv.some((arg) => VERSION.includes(arg))) {
    write(`${readPackageInfo().version}\n`);
    return true;
  }
  return false;
}
