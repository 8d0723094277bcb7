import { connectBus } from '@glavito/bus';
import { createPool } from '@glavito/db';
import { prepareServiceDatabase } from '@glavito/db/plugin';
import { createLogger } from '@glavito/logging';
import { DATABASE } from './app.js';
import { loadProgressConfig } from './config.js';
import { REBUILD_POOL_OPTIONS, rebuildProjections } from './rebuild-projections.js';

const config = loadProgressConfig();
const logger = createLogger('progress-rebuild', config.LOG_LEVEL);
const url = await prepareServiceDatabase({ ...DATABASE, config });
const pool = createPool({ connectionString: url, ...REBUILD_POOL_OPTIONS });
const bus = await connectBus({ servers: config.NATS_URL, name: 'progress-rebuild' });
const started = Date.now();
const result = await rebuildProjections({ pool, bus, stream: config.EVENT_STREAM, subjectPrefix: config.EVENT_SUBJECT_PREFIX, logger });
logger.info({ ...result, ms: Date.now() - started }, 'projection rebuilt from the stream');
await bus.nc.drain();
await pool.end();
