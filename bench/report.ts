import type { HistoryResult } from './history-reads.js';
import type { PostgresResult } from './postgres-rows.js';

/** A figure's value for each target, its goal, and how much the alternating runs spread. */
export interface Row {
  figure: string;
  proxy: number | undefined;
  direct?: number;
  portkey?: number;
  unit: string;
  target?: { op: '<=' | '>='; value: number; of?: 'proxy' | 'ratio' };
  /** (max - min) / median of the proxy's runs. */
  spread?: number;
  note?: string;
}

interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
}

export interface BenchReport {
  date: string;
  mode: string;
  machine: Machine;
  pinned: boolean;
  rounds: number;
  rows: Row[];
  history: HistoryResult[];
  postgres: PostgresResult;
  peers: { portkey?: string; error?: string };
  raw: Record<string, unknown>;
}

const fmt = (v: number | undefined, unit: string): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return `${v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: 0 })}${unit === '×' ? '×' : unit ? ` ${unit}` : ''}`;
};

export function meets(row: Row): boolean | undefined {
  if (!row.target || row.proxy === undefined || !Number.isFinite(row.proxy)) return undefined;
  return row.target.op === '<=' ? row.proxy <= row.target.value : row.proxy >= row.target.value;
}

export function markdownTable(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb.toFixed(0)} GB, Node ${m.node}; load average ${m.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${m.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')} after. Mode: ${report.mode}, ${report.rounds} alternating rounds per figure, medians` +
      `${report.pinned ? ', server pinned to CPU 0, stand-in and load generator to CPU 1' : ''}. ${report.date}.`,
    '',
    '| Figure | Proxy | Direct | Portkey | Target | Met | Spread |',
    '|---|---:|---:|---:|---|:-:|---:|',
  ];
  for (const row of report.rows) {
    const target = row.target ? `${row.target.op === '<=' ? '≤' : '≥'} ${fmt(row.target.value, row.unit)}` : '';
    const met = meets(row);
    lines.push(
      `| ${row.figure}${row.note ? ` (${row.note})` : ''} | ${fmt(row.proxy, row.unit)} | ${fmt(row.direct, row.unit)} | ${fmt(row.portkey, row.unit)} | ${target} | ${met === undefined ? '' : met ? 'yes' : '**no**'} | ${row.spread === undefined ? '' : `${Math.round(row.spread * 100)}%`} |`,
    );
  }
  if (report.postgres.skipped) lines.push('', `PostgreSQL rows skipped: ${report.postgres.skipped}`);
  if (report.peers.error) lines.push('', `Portkey: ${report.peers.error}`);
  else if (report.peers.portkey) lines.push('', `Portkey: @portkey-ai/gateway ${report.peers.portkey}, same stand-in, same load, same machine, same rounds.`);
  return lines.join('\n');
}
