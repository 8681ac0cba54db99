// `npm run bench`: runs the benchmarks and writes bench/results/latest.json and latest.md.
// Figures are medians over rounds with the spread (min..max), and ratios to a baseline
// measured in the same run; never pass/fail timings.
//   --quick   one round, for a smoke run that checks the benchmark works
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBinary, measureStartup, type StartupFigures } from './startup.ts';

const quick = process.argv.includes('--quick');
const rounds = quick ? 1 : 5;
const out = join(import.meta.dirname ?? '.', 'results');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function summary(xs: number[]) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs };
}

const binary = buildBinary();
const startup: StartupFigures[] = await measureStartup(rounds, binary.path);
const base = startup.find((s) => s.variant === 'bun src/main.ts');
const rows = startup.map((s) => ({
  variant: s.variant,
  readyMs: summary(s.readyMs),
  idleRssMiB: summary(s.idleRssMiB),
  busyPeakRssMiB: summary(s.busyPeakRssMiB),
  readyVsBunSource: base ? median(s.readyMs) / median(base.readyMs) : null,
}));

const result = {
  date: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).availableParallelism(), node: process.versions.node, bun: process.versions.bun ?? null },
  quick,
  rounds,
  binarySizeMiB: binary.sizeMiB,
  startup: rows,
  targets: { readyMs: 150, idleRssMiB: 100, binarySizeMiB: 140 },
};

const fmt = (s: { median: number; min: number; max: number }, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`;
const md = [
  `# zakadrom benchmarks`,
  ``,
  `${result.date}, ${result.machine.cpus} CPUs, ${rounds} round(s) per variant, interleaved. Median (min..max).`,
  ``,
  `Binary size: ${binary.sizeMiB.toFixed(1)} MiB (target at most ${result.targets.binarySizeMiB}).`,
  ``,
  `| variant | exec to ready, ms | vs bun source | idle RSS, MiB | peak RSS analysing 8 x 8 MP, MiB |`,
  `|---|---|---|---|---|`,
  ...rows.map(
    (r) =>
      `| ${r.variant} | ${fmt(r.readyMs)} | ${r.readyVsBunSource?.toFixed(2) ?? '-'} | ${fmt(r.idleRssMiB)} | ${fmt(r.busyPeakRssMiB)} |`,
  ),
  ``,
  `Ready: the sandbox URL printed, the bot ready, and the sandbox has seen its first long poll.`,
  `Targets on these machines: ready at most ${result.targets.readyMs} ms, idle RSS at most ${result.targets.idleRssMiB} MiB.`,
  ``,
].join('\n');

mkdirSync(out, { recursive: true });
writeFileSync(join(out, quick ? 'quick.json' : 'latest.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(out, quick ? 'quick.md' : 'latest.md'), md);
console.log(md);
