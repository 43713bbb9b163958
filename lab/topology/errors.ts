/** Base of every error the lab raises: a stable `code` to check, context, and a "To fix:" hint. */
export class LabError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly context: Record<string, unknown>;

  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(opts.hint ? `${message}\nTo fix: ${opts.hint}` : message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.context = opts.context ?? {};
  }
}

export interface Problem {
  /** Where in the topology, e.g. `hosts[1].nat.mapping`. */
  path: string;
  message: string;
}

/** Every problem found in a topology, reported at once before anything is created. */
export class TopologyError extends LabError {
  readonly problems: readonly Problem[];
  constructor(problems: Problem[], source?: string) {
    super(
      'ERR_TOPOLOGY_INVALID',
      `invalid topology${source ? ` in ${source}` : ''}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n` +
        problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
      { hint: 'correct the fields listed above (see README, "Topology files")', context: { source } },
    );
    this.problems = problems;
  }
}
