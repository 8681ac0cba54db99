// `npm run chaos`: the full chaos run (200 applications, 50 SIGKILLs, faults throughout).
//   --applications N  --kills N  --binary PATH (default: bun src/main.ts)
import { join } from 'node:path';
import { runChaos } from './chaos.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const root = join(import.meta.dirname ?? '.', '..');
const binary = arg('binary', '');
const report = await runChaos({
  applications: Number(arg('applications', '200')),
  kills: Number(arg('kills', '50')),
  command: binary ? [binary] : [join(root, 'node_modules/.bin/bun'), join(root, 'src/main.ts')],
  photosDir: join(root, '..', 'shared', 'corpus', 'photos'),
  log: (line) => console.log(line),
});
console.log(JSON.stringify(report, null, 2));
if (report.violations.length > 0) {
  console.error(`${report.violations.length} violation(s)`);
  process.exit(1);
}
console.log(`chaos: ${report.kills} kills, ${report.applications} applications, ${report.faults} faults: no violation`);
