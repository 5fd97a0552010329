import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { timeHistoryReads, type HistoryResult } from './history-reads.js';
import type { GroupedReadName } from './usage-views.js';
import { metricsCpuUsPerCall } from './metrics-cost.js';
import { bigStream, sequential, streamed, throughput, type ThroughputRun } from './measure.js';
import { parseOptions, USAGE, type BenchOptions } from './options.js';
import { measurePostgres, type PostgresResult } from './postgres-rows.js';
import { measureAccess, type AccessResult } from './access-rows.js';
import { installPortkey, PORTKEY_VERSION, startPortkey } from './peers.js';
import { memoryMb, rssDuring, runToCompletion, stopAllOnExit, type RssDuring } from './processes.js';
import { markdownTable, meets, type BenchReport, type Row } from './report.js';
import { measureScaling, type ScalingResult } from './scaling.js';
import { directTarget, putPrice, PROXY_MAIN, startProxy, startUpstream, type Target } from './servers.js';
import { alternate, median, pick, spread, type PerTarget } from './stats.js';
import type { BigStreamResult, StreamResult } from './load-client.js';

/**
 * `npm run bench`: the proxy against direct calls to a loopback stand-in (and,
 * with --peers, against Portkey's gateway), each server its own process, the
 * load generator another. Runs alternate (direct, proxy, [peer], direct, ...)
 * so machine drift shows in every figure's spread; figures are medians.
 */
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(options: BenchOptions): Promise<void> {
  if (!existsSync(PROXY_MAIN)) throw new Error(`${PROXY_MAIN} is missing: run \`npm run build\` first (npm run bench does)`);
  stopAllOnExit();
  const started = Date.now();
  const loadBefore = loadavg();
  const workDir = mkdtempSync(join(tmpdir(), 'oap-bench-'));
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const serverCpus = options.pin ? '0' : undefined;
  const clientCpus = options.pin ? '1' : undefined;
  const raw: Record<string, unknown> = {};
  const peers: BenchReport['peers'] = {};

  try {
    const upstream = await startUpstream(workDir, clientCpus);
    const profileDir = options.profile ? join(outDir, `profile-${stamp}`) : undefined;
    const proxy = await startProxy({ upstream, dbPath: join(workDir, 'queries.db'), workDir, cpus: serverCpus, profileDir });
    // Accounting on: the model is priced, so every call is priced as it is recorded.
    await putPrice(proxy, 'gpt-4o-mini', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006 });
    const targets: Target[] = [directTarget(upstream), proxy];

    if (options.peers) {
      const peerDir = mkdtempSync(join(tmpdir(), 'oap-bench-peers-'));
      try {
        log(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${peerDir}`);
        const installed = await installPortkey(peerDir);
        targets.push(await startPortkey({ ...installed, upstream, workDir, cpus: serverCpus }));
        peers.portkey = PORTKEY_VERSION;
      } catch (err) {
        peers.error = `not measured: ${(err as Error).message.split('\n')[0]}`;
        log(`Portkey ${peers.error}`);
      }
      process.on('exit', () => rmSync(peerDir, { recursive: true, force: true }));
    }
    const names = targets.map((t) => t.name).join(', ');

    log(`warming up ${names}`);
    for (const t of targets) await throughput(t, 8, 1, clientCpus);

    log(`throughput, 32 connections: ${options.rounds} rounds of ${names}, ${options.throughputSeconds} s each`);
    const tp32 = await alternate(options.rounds, targets, (t) => throughput(t, 32, options.throughputSeconds, clientCpus));
    log(`throughput, 1 connection`);
    const tp1 = await alternate(options.rounds, targets, (t) => throughput(t, 1, options.throughputSeconds, clientCpus));
    log(`sequential latency: ${options.sequentialCalls} calls per run`);
    const seq = await alternate(options.rounds, targets, (t) => sequential(t, options.sequentialCalls, options.sequentialSeconds, clientCpus));
    log(`streaming: ${options.streamCalls} calls of ${options.streamChunks} chunks per run`);
    const str = await alternate(options.rounds, targets, (t) => streamed(t, options.streamCalls, options.streamChunks, options.sequentialSeconds, clientCpus));
    const peakUnderLoad = Object.fromEntries(targets.filter((t) => t.server).map((t) => [t.name, memoryMb(t.server!.pid).peak]));

    log(`metrics' cost: ${options.rounds} rounds at 32 connections, metrics on and off`);
    const metricsOff = await startProxy({
      upstream,
      dbPath: join(workDir, 'queries-metrics-off.db'),
      workDir,
      cpus: serverCpus,
      name: 'proxy-metrics-off',
      proxyFlags: ['--metrics.enabled=false'],
    });
    await throughput(metricsOff, 8, 1, clientCpus);
    const metricsTp = await alternate(options.rounds, [proxy, metricsOff], (t) => throughput(t, 32, options.throughputSeconds, clientCpus));
    await metricsOff.server?.stop();
    const metricsUs = metricsCpuUsPerCall();

    log(`a ${options.bigStreamMb} MB streamed answer through the proxy`);
    const big = await rssDuring(proxy.server!.pid, bigStream(proxy, options.bigStreamMb, clientCpus));
    const recorded = (await (await fetch(`http://127.0.0.1:${proxy.server!.port}/usage?status=all`)).json()) as { numQueries: number };
    Object.assign(raw, { tp32, tp1, seq, str, peakUnderLoad, big, metricsTp, metricsUs, recordedRows: recorded.numQueries });
    for (const t of targets) await t.server?.stop();

    const scaling = await measureScaling({
      upstream,
      workDir,
      rounds: options.rounds,
      seconds: options.throughputSeconds,
      poolSize: options.recordConcurrency,
      serverCpus,
      clientCpus,
      log,
    });
    raw.scaling = scaling;

    log(`recording throughput: ${options.recordSeconds} s of inserts through the SQLite store`);
    const recordDir = mkdtempSync(join(tmpdir(), 'oap-bench-record-'));
    let recording: { rowsPerSecond: number; cpuUsPerRow: number };
    try {
      const script = join(resolve(PROXY_MAIN, '..', '..'), 'dist-bench', 'bench', 'record-throughput.js');
      recording = JSON.parse(
        await runToCompletion(process.execPath, [script, join(recordDir, 'record.db'), String(options.recordSeconds)], { cpus: serverCpus }),
      );
    } finally {
      rmSync(recordDir, { recursive: true, force: true });
    }
    raw.recording = recording;

    const history: HistoryResult[] = [];
    for (const rows of options.historySizes) history.push(await timeHistoryReads(rows, { upstream, cpus: serverCpus, log }));
    const postgres = await measurePostgres({
      recordSeconds: options.recordSeconds,
      concurrency: options.recordConcurrency,
      historyRows: options.postgresHistoryRows,
      replayRows: options.postgresReplayRows,
      repriceRows: options.postgresRepriceRows,
      upstream,
      cpus: serverCpus,
      log,
    });
    const access = await measureAccess({
      upstream,
      workDir,
      rounds: options.rounds,
      seconds: options.throughputSeconds,
      cpus: serverCpus,
      clientCpus,
      log,
    });
    raw.access = access;
    await upstream.stop();

    const rowsOut = figures({ tp32, tp1, seq, str, peakUnderLoad, big, metricsTp, metricsUs, scaling, recording, history, postgres, access, options });
    const report: BenchReport = {
      date: new Date(started).toISOString(),
      mode: options.mode,
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        memoryGb: totalmem() / 1024 ** 3,
        node: process.version,
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadavg(),
      },
      pinned: options.pin,
      rounds: options.rounds,
      rows: rowsOut,
      history,
      postgres,
      peers,
      raw,
    };
    const table = markdownTable(report);
    const base = join(outDir, `bench-${stamp}-${options.mode}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, `${table}\n`);
    process.stdout.write(`${table}\n\nResults: ${base}.json${profileDir ? `\nProfile: ${profileDir}` : ''}\n`);
    const missed = rowsOut.filter((r) => meets(r) === false).map((r) => r.figure);
    if (missed.length) log(`targets not met: ${missed.join('; ')}`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface Measured {
  tp32: PerTarget<ThroughputRun>;
  tp1: PerTarget<ThroughputRun>;
  seq: PerTarget<StreamResult>;
  str: PerTarget<StreamResult>;
  peakUnderLoad: Record<string, number>;
  big: RssDuring<BigStreamResult>;
  scaling: ScalingResult;
  /** The proxy with metrics on and a second one with --metrics.enabled=false, alternating. */
  metricsTp: PerTarget<ThroughputRun>;
  /** CPU µs that counting one call for /metrics costs, measured in-process. */
  metricsUs: number;
  recording: { rowsPerSecond: number; cpuUsPerRow: number };
  history: HistoryResult[];
  postgres: PostgresResult;
  access: AccessResult;
  options: BenchOptions;
}

const sizeLabel = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

/** The table's rows: ratios first, then what each target is held to, then the rest. */
function figures(m: Measured): Row[] {
  const rows: Row[] = [];
  const perRoundRatio = (runs: PerTarget<ThroughputRun>, a: string, b: string) => {
    const x = pick(runs, a, (r) => r.callsPerSecond);
    const y = pick(runs, b, (r) => r.callsPerSecond);
    return x.map((v, i) => v / y[i]);
  };
  const hasPortkey = m.tp32.portkey !== undefined;
  for (const [conns, runs] of [
    [1, m.tp1],
    [32, m.tp32],
  ] as const) {
    const ratios = perRoundRatio(runs, 'proxy', 'direct');
    rows.push({ figure: `Throughput proxied / direct, ${conns} connection${conns > 1 ? 's' : ''}`, proxy: median(ratios), unit: '×', spread: spread(ratios) });
  }
  if (hasPortkey) {
    const ratios = perRoundRatio(m.tp32, 'proxy', 'portkey');
    rows.push({
      figure: 'Throughput proxy / Portkey, 32 connections',
      proxy: median(ratios),
      unit: '×',
      target: { op: '>=', value: 6 },
      spread: spread(ratios),
    });
    const cpu = (name: string) => pick(m.tp32, name, (r) => r.cpuUsPerCall);
    const cpuRatios = cpu('portkey').map((v, i) => v / cpu('proxy')[i]);
    rows.push({ figure: 'CPU per call Portkey / proxy, 32 connections', proxy: median(cpuRatios), unit: '×', spread: spread(cpuRatios) });
  }
  const cps = (runs: PerTarget<ThroughputRun>, name: string) => median(pick(runs, name, (r) => r.callsPerSecond));
  rows.push({
    figure: 'Calls/s, 32 connections',
    proxy: cps(m.tp32, 'proxy'),
    direct: cps(m.tp32, 'direct'),
    portkey: hasPortkey ? cps(m.tp32, 'portkey') : undefined,
    unit: '',
    target: { op: '>=', value: 3000 },
    spread: spread(pick(m.tp32, 'proxy', (r) => r.callsPerSecond)),
  });
  rows.push({
    figure: 'Calls/s, 1 connection',
    proxy: cps(m.tp1, 'proxy'),
    direct: cps(m.tp1, 'direct'),
    portkey: hasPortkey ? cps(m.tp1, 'portkey') : undefined,
    unit: '',
    spread: spread(pick(m.tp1, 'proxy', (r) => r.callsPerSecond)),
  });

  // Added latency: per round, the target's percentile minus the direct run's of the same round.
  const added = (runs: PerTarget<StreamResult>, name: string, f: (r: StreamResult) => number) => {
    const direct = pick(runs, 'direct', f);
    return pick(runs, name, f).map((v, i) => (v - direct[i]) / 1000);
  };
  for (const [label, f, goal] of [
    ['p50', (r: StreamResult) => r.p50Us, 0.3],
    ['p99', (r: StreamResult) => r.p99Us, 1],
  ] as const) {
    const ours = added(m.seq, 'proxy', f);
    rows.push({
      figure: `Added latency ${label}, sequential`,
      proxy: median(ours),
      direct: median(pick(m.seq, 'direct', f)) / 1000,
      portkey: hasPortkey ? median(added(m.seq, 'portkey', f)) : undefined,
      unit: 'ms',
      target: { op: '<=', value: goal },
      spread: spread(ours),
      note: 'direct: its own latency',
    });
  }
  for (const [conns, runs, goal] of [
    [32, m.tp32, 200],
    [1, m.tp1, undefined],
  ] as const) {
    const ours = pick(runs, 'proxy', (r) => r.cpuUsPerCall);
    rows.push({
      figure: `CPU per call, ${conns} connection${conns > 1 ? 's' : ''}`,
      proxy: median(ours),
      portkey: hasPortkey ? median(pick(runs, 'portkey', (r) => r.cpuUsPerCall)) : undefined,
      unit: 'µs',
      target: goal === undefined ? undefined : { op: '<=', value: goal },
      spread: spread(ours),
      note: 'recording included',
    });
  }
  const ttfb = added(m.str, 'proxy', (r) => r.ttfbP50Us);
  rows.push({
    figure: `Streaming: added time to first byte, p50`,
    proxy: median(ttfb),
    direct: median(pick(m.str, 'direct', (r) => r.ttfbP50Us)) / 1000,
    portkey: hasPortkey ? median(added(m.str, 'portkey', (r) => r.ttfbP50Us)) : undefined,
    unit: 'ms',
    target: { op: '<=', value: 1 },
    spread: spread(ttfb),
    note: `${m.options.streamChunks} chunks`,
  });
  const total = added(m.str, 'proxy', (r) => r.p50Us);
  rows.push({
    figure: 'Streaming: added total time, p50',
    proxy: median(total),
    direct: median(pick(m.str, 'direct', (r) => r.p50Us)) / 1000,
    portkey: hasPortkey ? median(added(m.str, 'portkey', (r) => r.p50Us)) : undefined,
    unit: 'ms',
    spread: spread(total),
  });
  const metricsRatio = perRoundRatio(m.metricsTp, 'proxy', 'proxy-metrics-off');
  rows.push({
    figure: 'Throughput metrics on / off, 32 connections',
    proxy: median(metricsRatio),
    unit: '×',
    target: { op: '>=', value: 0.95 },
    spread: spread(metricsRatio),
    note: `${median(pick(m.metricsTp, 'proxy', (r) => r.callsPerSecond)).toFixed(0)} vs ${median(pick(m.metricsTp, 'proxy-metrics-off', (r) => r.callsPerSecond)).toFixed(0)} calls/s`,
  });
  const cpuPerCall = median(pick(m.tp32, 'proxy', (r) => r.cpuUsPerCall));
  rows.push({
    figure: 'Metrics: CPU per call counted, share of the CPU per call at 32 connections',
    proxy: (100 * m.metricsUs) / cpuPerCall,
    unit: '%',
    target: { op: '<=', value: 5 },
    note: `${m.metricsUs.toFixed(2)} µs of ${cpuPerCall.toFixed(0)} µs, in-process`,
  });
  rows.push({ figure: 'Peak RSS under load', proxy: m.peakUnderLoad.proxy, portkey: m.peakUnderLoad.portkey, unit: 'MB', target: { op: '<=', value: 120 } });
  const bigMb = m.big.result.bytes / 1024 ** 2;
  const relayed = m.big.result.endedCleanly && m.big.result.status === 200 ? '' : ', FAILED';
  // Holding the answer would add its whole size; a third of it allows for garbage the collector has not reached yet.
  rows.push({
    figure: `RSS growth over a ${bigMb.toFixed(0)} MB streamed answer`,
    proxy: m.big.peakMb - m.big.beforeMb,
    unit: 'MB',
    target: { op: '<=', value: Math.round(bigMb / 3) },
    note:
      `${m.big.beforeMb.toFixed(0)} → ${m.big.peakMb.toFixed(0)} MB; first half +${(m.big.firstHalfPeakMb - m.big.beforeMb).toFixed(0)}, ` +
      `second +${(m.big.secondHalfPeakMb - m.big.beforeMb).toFixed(0)} MB; ${(bigMb / m.big.result.seconds).toFixed(0)} MB/s${relayed}`,
  });
  rows.push(...scalingRows(m.scaling));
  rows.push({
    figure: 'Recording throughput (SQLite store, one call after another)',
    proxy: m.recording.rowsPerSecond,
    unit: 'rows/s',
    note: `${m.recording.cpuUsPerRow.toFixed(0)} µs CPU per row`,
  });
  const pg = m.postgres;
  for (const r of [pg.sequential, pg.concurrent]) {
    if (!r) continue;
    const how = r.concurrency === 1 ? 'one call after another' : `${r.concurrency} calls at once`;
    rows.push({
      figure: `Recording throughput (PostgreSQL store, ${how})`,
      proxy: r.rowsPerSecond,
      unit: 'rows/s',
      note: `${r.cpuUsPerRow.toFixed(0)} µs CPU per row in Node, the server's not counted`,
    });
  }
  for (const h of m.history) {
    const n = h.history.rows;
    const size = sizeLabel(n);
    const goal = n >= 10_000_000 ? 500 : n >= 1_000_000 ? 50 : undefined;
    rows.push({
      figure: `/usage over ${size} queries`,
      proxy: h.reads.usageAll.medianMs,
      unit: 'ms',
      target: goal ? { op: '<=', value: goal } : undefined,
      note: 'all time',
    });
    rows.push({
      figure: `/usage?after=… over ${size} queries`,
      proxy: h.reads.usageAfter.medianMs,
      unit: 'ms',
      target: goal ? { op: '<=', value: goal } : undefined,
      note: `${h.reads.usageAfter.count.toLocaleString('en')} matched`,
    });
    rows.push({
      figure: `/usage?user=…&after=…&before=… over ${size}`,
      proxy: h.reads.usageUserRange.medianMs,
      unit: 'ms',
      note: `busiest user, ${h.reads.usageUserRange.count.toLocaleString('en')} matched`,
    });
    rows.push({
      figure: `/queries?user=…&after=… over ${size}`,
      proxy: h.reads.queriesUserAfter.medianMs,
      unit: 'ms',
      note: `${h.reads.queriesUserAfter.count.toLocaleString('en')} rows listed`,
    });
    rows.push(...viewRows(h, size, '', goal));
  }
  if (pg.history) {
    const n = pg.history.history.rows;
    const size = sizeLabel(n);
    const goal = n >= 10_000_000 ? 500 : n >= 1_000_000 ? 50 : undefined;
    const target = goal ? { op: '<=' as const, value: goal } : undefined;
    const reads = pg.history.reads;
    rows.push({ figure: `/usage over ${size} queries (PostgreSQL)`, proxy: reads.usageAll.medianMs, unit: 'ms', target, note: 'all time' });
    rows.push({
      figure: `/usage?after=… over ${size} queries (PostgreSQL)`,
      proxy: reads.usageAfter.medianMs,
      unit: 'ms',
      target,
      note: `${reads.usageAfter.count.toLocaleString('en')} matched`,
    });
    rows.push({
      figure: `/usage?user=…&after=…&before=… over ${size} (PostgreSQL)`,
      proxy: reads.usageUserRange.medianMs,
      unit: 'ms',
      note: `busiest user, ${reads.usageUserRange.count.toLocaleString('en')} matched`,
    });
    rows.push(...viewRows(pg.history, size, ' (PostgreSQL)', undefined));
  }
  if (pg.replay) {
    rows.push({
      figure: 'Journal replay into PostgreSQL, with calls recorded meanwhile',
      proxy: pg.replay.rowsPerSecond,
      unit: 'rows/s',
      target: { op: '>=', value: 2_000 },
      note: `${pg.replay.rows.toLocaleString('en')} lines; ${pg.replay.liveCalls.toLocaleString('en')} calls from ${pg.replay.concurrency} callers meanwhile`,
    });
  }
  if (pg.repriceStall) {
    const r = pg.repriceStall;
    rows.push({
      figure: `Recording a call of a model while ${sizeLabel(r.rows)} of its rows are re-priced (PostgreSQL), slowest`,
      proxy: r.during.max,
      unit: 'ms',
      target: { op: '<=', value: 50 },
      note: `p50 ${r.during.p50.toFixed(1)} ms, p99 ${r.during.p99.toFixed(1)} ms over ${r.during.calls} calls in ${r.repriceSeconds.toFixed(1)} s; ${r.before.p50.toFixed(1)} ms before`,
    });
  }
  rows.push(...accessRows(m.access));
  return rows;
}

const GROUPED_READS: Record<GroupedReadName, string> = {
  byModel: '/usage?groupBy=model',
  byUser: '/usage?groupBy=user',
  byDayUtc: '/usage?groupBy=day',
  byDayBerlin: '/usage?groupBy=day&tz=Europe/Berlin',
  byDayModelAfter: '/usage?groupBy=day,model&after=…',
  byDayUserLast30Days: '/usage?groupBy=day,user, last 30 days',
  byHourLast7Days: '/usage?groupBy=hour, last 7 days',
};

/** The dashboard's reads over a history: grouped /usage (held to /usage's budget) and the CSV export's memory. */
function viewRows(h: HistoryResult, size: string, store: string, goal: number | undefined): Row[] {
  const rows: Row[] = Object.entries(GROUPED_READS).map(([name, figure]) => {
    const read = h.grouped[name as GroupedReadName];
    return {
      figure: `${figure} over ${size}${store}`,
      proxy: read.medianMs,
      unit: 'ms',
      target: goal ? { op: '<=', value: goal } : undefined,
      note: `${read.groups.toLocaleString('en')} groups`,
    };
  });
  if (h.csv) {
    rows.push({
      figure: `RSS growth over a CSV export of ${size} rows${store}`,
      proxy: h.csv.growthMb,
      unit: 'MB',
      target: { op: '<=', value: 50 },
      note: `${h.csv.rows.toLocaleString('en')} rows, ${h.csv.megabytes.toFixed(0)} MB in ${h.csv.seconds.toFixed(1)} s; ${h.csv.beforeMb.toFixed(0)} → ${h.csv.peakMb.toFixed(0)} MB`,
    });
  }
  return rows;
}

/** Calls/s of each setup of the scaling phase, and the ratios between them, round by round. */
function scalingRows(sc: ScalingResult): Row[] {
  const rows: Row[] = [];
  const label: Record<string, string> = {
    'sqlite-1w': 'SQLite, 1 process',
    'sqlite-2w': 'SQLite, 2 workers',
    'postgres-1w': 'PostgreSQL, 1 process',
    'postgres-2w': 'PostgreSQL, 2 workers',
  };
  for (const name of Object.keys(sc.runs)) {
    const calls = pick(sc.runs, name, (r) => r.callsPerSecond);
    rows.push({
      figure: `Calls/s, 32 connections, ${label[name] ?? name}`,
      proxy: median(calls),
      unit: '',
      target: name === 'postgres-2w' ? { op: '>=', value: 3000 } : undefined,
      spread: spread(calls),
      note: `${median(pick(sc.runs, name, (r) => r.cpuUsPerCall)).toFixed(0)} µs CPU per call, workers included; peak RSS ${sc.peakMb[name]?.toFixed(0)} MB`,
    });
  }
  const ratio = (figure: string, a: string, b: string, goal?: number) => {
    if (!sc.runs[a] || !sc.runs[b]) return;
    const x = pick(sc.runs, a, (r) => r.callsPerSecond);
    const y = pick(sc.runs, b, (r) => r.callsPerSecond);
    const ratios = x.map((v, i) => v / y[i]);
    rows.push({ figure, proxy: median(ratios), unit: '×', target: goal === undefined ? undefined : { op: '>=', value: goal }, spread: spread(ratios) });
  };
  ratio('Throughput PostgreSQL / SQLite, 32 connections, 1 process each', 'postgres-1w', 'sqlite-1w', 0.7);
  ratio('Throughput 2 workers / 1 process, 32 connections, SQLite', 'sqlite-2w', 'sqlite-1w', 1.3);
  ratio('Throughput 2 workers / 1 process, 32 connections, PostgreSQL', 'postgres-2w', 'postgres-1w');
  return rows;
}

/** The cost of being checked, and how far a budget can be overshot by calls made at once. */
function accessRows(a: AccessResult): Row[] {
  const ratios = a.checked.map((r, i) => r.callsPerSecond / a.plain[i].callsPerSecond);
  const rows: Row[] = [
    {
      figure: 'Throughput with a key, a budget and a rate limit / with none, 32 connections',
      proxy: median(ratios),
      unit: '×',
      target: { op: '>=', value: 0.9 },
      spread: spread(ratios),
    },
  ];
  for (const [store, o] of [
    ['SQLite', a.sqlite],
    ['PostgreSQL', a.postgres],
  ] as const) {
    if (!o) continue;
    rows.push({
      figure: `Budget overshoot, ${o.calls} calls at once through two instances (${store})`,
      proxy: o.overshootCalls,
      unit: 'calls',
      target: { op: '<=', value: 1 },
      note: `budget $${o.budgetUsd.toFixed(4)} for ${Math.round(o.budgetUsd / o.callUsd)} calls: ${o.answered} answered, $${o.spentUsd.toFixed(4)} spent`,
    });
  }
  return rows;
}

let options: BenchOptions;
try {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  log((err as Error).message);
  process.exit(2);
}
main(options).then(
  () => process.exit(0),
  (err) => {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
