import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * CPU one running call costs, in cores: two browsers' WebRTC threads encoding fake audio and
 * 320x240 video. Measured on the 2-core dev machine (2026-12-01): the PR connectivity run used 80 s
 * of CPU (user + sys, browsers included) for 30 calls of about 3 s each, launches included, so
 * about 0.5 core per call. Another call starts only while at least this much CPU was idle over the
 * last sample.
 */
export const CALL_CPU = 0.5;
/** Idle CPU below which the pool lets a finished call's slot go instead of refilling it. */
const BUSY_IDLE = 0.1;
/** How often the pool measures idle CPU while calls wait (a shorter window is mostly noise). */
const SAMPLE_MS = 300;

/** Idle cores over the time since the previous reading of /proc/stat (idle + iowait over all). */
export class IdleCpu {
  #last = IdleCpu.read();
  static read(): { idle: number; total: number } {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + (f[4] ?? 0), total: f.reduce((x, y) => x + y, 0) };
  }
  /** Idle cores since the previous call (cores × idle share). */
  sample(cores: number): number {
    const now = IdleCpu.read();
    const dt = now.total - this.#last.total;
    const idle = dt > 0 ? ((now.idle - this.#last.idle) / dt) * cores : cores;
    this.#last = now;
    return idle;
  }
}

/** The next call to start: the first in submission order whose hosts are all free. */
export function nextRunnable<T extends { hosts: readonly string[] }>(queue: readonly T[], busy: ReadonlySet<string>): number {
  return queue.findIndex((q) => q.hosts.every((h) => !busy.has(h)));
}

interface Queued {
  hosts: readonly string[];
  start: () => void;
}

/**
 * Runs calls that share no lab host at once (two calls behind one NAT would share its mappings and
 * port space), as many as the measured idle CPU allows: a call is added while at least CALL_CPU
 * cores were idle over the last sample, a finished call's slot is not refilled while the CPU is
 * busy, and one call always runs. At most `max` at once (default: 2 per core).
 */
export class CallPool {
  readonly #queue: Queued[] = [];
  readonly #busy = new Set<string>();
  readonly #cpu = new IdleCpu();
  readonly #cores: number;
  readonly #max: number;
  #running = 0;
  #limit = 1;
  #timer: NodeJS.Timeout | null = null;
  /** Most calls that ran at once, for reports and the bench. */
  peak = 0;
  constructor(opts: { max?: number; cores?: number } = {}) {
    this.#cores = opts.cores ?? availableParallelism();
    this.#max = opts.max ?? 2 * this.#cores;
  }

  /** Runs `run` once none of `hosts` is in use by another call and the CPU has room. */
  submit<T>(hosts: readonly string[], run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#running++;
        this.peak = Math.max(this.peak, this.#running);
        for (const h of hosts) this.#busy.add(h);
        run()
          .then(resolve, reject)
          .finally(() => {
            this.#running--;
            for (const h of hosts) this.#busy.delete(h);
            this.#pump();
          });
      };
      this.#queue.push({ hosts, start });
      this.#pump();
    });
  }

  /** Starts what the limit and the hosts allow; samples the CPU while calls wait. */
  #pump(): void {
    for (;;) {
      if (this.#running >= Math.max(1, this.#limit) && this.#running > 0) break;
      const i = nextRunnable(this.#queue, this.#busy);
      if (i < 0) break;
      this.#queue.splice(i, 1)[0]!.start();
    }
    if (this.#queue.length && !this.#timer) {
      // Re-measures idle CPU every SAMPLE_MS while calls wait for a slot.
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#adjust();
        this.#pump();
      }, SAMPLE_MS);
      this.#timer.unref();
    }
  }

  #adjust(): void {
    const idle = this.#cpu.sample(this.#cores);
    if (idle >= CALL_CPU && this.#running >= this.#limit) this.#limit = Math.min(this.#max, this.#running + 1);
    else if (idle < BUSY_IDLE) this.#limit = Math.max(1, this.#running - 1);
  }
}
