// Preloaded into the daemon by BENCH_CPU_PROF=<dir> (NODE_OPTIONS=--import, since Node
// refuses --cpu-prof there): records a V8 CPU profile of the daemon process and writes it to
// <dir>/daemon-<pid>.cpuprofile when the process exits. Other node processes (the CLI) that
// inherit NODE_OPTIONS are left alone.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF;
if (dir && /packages[\\/]daemon[\\/]dist[\\/]main\.js$/.test(process.argv[1] ?? '')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // BENCH_CPU_PROF_INTERVAL_US: a coarser sampling interval for a loaded machine (200 µs by default).
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_CPU_PROF_INTERVAL_US) || 200 });
  session.post('Profiler.start');
  // SIGUSR2 starts the profile afresh, so a benchmark can profile only its measured phase
  // (without the daemon's start and the warm-up).
  process.on('SIGUSR2', () => session.post('Profiler.stop', () => session.post('Profiler.start')));
  process.on('exit', () => {
    // An in-process session answers synchronously, so this runs before the process is gone.
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `daemon-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
