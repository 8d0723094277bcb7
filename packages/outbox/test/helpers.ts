import { pino, type Logger } from 'pino';

/** A logger that keeps info+ records in memory, so a test can wait for the relay's own retry reports. */
export function capturingLogger(): { logger: Logger; records: { msg: string; [k: string]: unknown }[] } {
  const records: { msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as { msg: string }) });
  return { logger, records };
}
