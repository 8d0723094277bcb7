import type { StreamDefinition } from './state.js';

/** What a service sees of a stream (or a bucket's stream) on the broker. */
export interface ObservedStream {
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  replicas: number;
}

/**
 * What differs between the stream a service expects and the one on the broker; empty when it matches.
 * Replicas are the migration's business (a service does not know the cluster size): not compared.
 */
export function streamMismatches(
  def: Pick<StreamDefinition, 'name' | 'subjects' | 'maxAgeMs' | 'duplicateWindowMs'>,
  observed: ObservedStream | null,
): string[] {
  if (!observed) return [`stream ${def.name} does not exist`];
  const out: string[] = [];
  if (JSON.stringify([...observed.subjects].sort()) !== JSON.stringify([...def.subjects].sort())) {
    out.push(`stream ${def.name} takes subjects ${JSON.stringify(observed.subjects)}, expected ${JSON.stringify(def.subjects)}`);
  }
  if (observed.maxAgeMs !== def.maxAgeMs) out.push(`stream ${def.name} keeps messages ${observed.maxAgeMs} ms, expected ${def.maxAgeMs} ms`);
  if (observed.duplicateWindowMs !== def.duplicateWindowMs)
    out.push(`stream ${def.name} has a ${observed.duplicateWindowMs} ms duplicate window, expected ${def.duplicateWindowMs} ms`);
  return out;
}

/** The one log line of a mismatch, naming the fix. */
export function mismatchMessage(problems: string[]): string {
  return `broker state does not match this release (${problems.join('; ')}): apply it with \`pnpm bus:migrate\` (the bus-migrate job); not ready until then`;
}
