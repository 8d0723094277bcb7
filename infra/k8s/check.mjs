#!/usr/bin/env node
/**
 * Offline checks of the deployment files: the Kubernetes manifests (infra/k8s/base and every overlay),
 * docker-compose.yml, infra/docker/Dockerfile and .dockerignore. Needs no cluster and no Docker engine.
 *
 *   node infra/k8s/check.mjs              build with `kubectl kustomize` / `kustomize build` when one is installed
 *   node infra/k8s/check.mjs --no-tools   never call external tools (built-in kustomization reader only)
 *
 * What the services need is read from the repository itself (services/<name>/src/config.ts for the port and
 * required variables, services/<name>/drizzle for a schema, .env.example for the documented variable names), so
 * a new service or variable that the deployment files do not cover fails here. Exit code 0 = no problem.
 */
/* eslint-disable no-console -- a command-line report */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = path.join(ROOT, 'infra/k8s');
const NO_TOOLS = process.argv.includes('--no-tools') || process.env.INFRA_CHECK_NO_TOOLS === '1';

let passed = 0;
const problems = [];
const notes = [];
/** Records one assertion; returns whether it held. */
function expect(ok, message) {
  if (ok) passed++;
  else problems.push(message);
  return Boolean(ok);
}
const rel = (p) => path.relative(ROOT, p) || '.';

// ---------------------------------------------------------------------------------------------------------------
// What the repository says the services need
// ---------------------------------------------------------------------------------------------------------------

function envExampleKeys() {
  const keys = new Set();
  for (const line of readFileSync(path.join(ROOT, '.env.example'), 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=/.exec(line.trim());
    if (m) keys.add(m[1]);
  }
  return keys;
}
const DOCUMENTED = envExampleKeys();

/** services/<name> with a package.json and src/config.ts: port, schema, required variables. */
function discoverServices() {
  const dir = path.join(ROOT, 'services');
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const configFile = path.join(dir, name, 'src/config.ts');
    if (!existsSync(path.join(dir, name, 'package.json')) || !existsSync(configFile)) continue;
    const config = readFileSync(configFile, 'utf8');
    const port = Number(/PORT:\s*env\.port\((\d+)\)/.exec(config)?.[1]);
    const bus = config.includes('busEnvShape');
    // A NATS client without the event bus (the gateway's shared rate limits) needs the same egress and wiring.
    const natsClient = bus || /\bNATS_URL\b/.test(config);
    const database = config.includes('databaseEnvShape');
    const required = ['JWT_SECRET']; // commonEnvSchema: the only shared variable without a default
    if (bus) required.push('NATS_URL');
    if (database) required.push('DATABASE_URL');
    // A variable declared as a plain string without .default()/.optional() is required (e.g. STEP_DATA_ENCRYPTION_KEY).
    for (const m of config.matchAll(/^\s{2}([A-Z][A-Z0-9_]*):\s*z\s*\n?\s*\.string\(\)([\s\S]*?),\n\s{2}(?=[A-Z/}])/gm)) {
      if (!/\.default\(|\.optional\(/.test(m[2])) required.push(m[1]);
    }
    const hasSchema = existsSync(path.join(dir, name, 'drizzle'));
    expect(Number.isInteger(port) && port > 0, `services/${name}/src/config.ts: no default PORT (env.port(N)) found`);
    out.push({ name, port, bus, natsClient, database, hasSchema, schema: hasSchema ? name.replace(/-/g, '_') : null, required });
  }
  return out;
}
const SERVICES = discoverServices();
const SCHEMA_SERVICES = SERVICES.filter((s) => s.hasSchema);
const GATEWAY = SERVICES.find((s) => s.name === 'gateway');
const UPSTREAMS = SERVICES.filter((s) => s.name !== 'gateway');
/** Env var of the gateway that holds an upstream's URL: connection-test -> CONNECTION_TEST_URL. */
const upstreamUrlVar = (svc) => `${svc.name.replace(/-/g, '_').toUpperCase()}_URL`;

function parseDuration(value) {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(String(value).trim());
  if (!m) return null;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'];
}

// ---------------------------------------------------------------------------------------------------------------
// YAML and kustomize
// ---------------------------------------------------------------------------------------------------------------

function parseDocs(text, where, options = {}) {
  const out = [];
  for (const doc of parseAllDocuments(text, options)) {
    if (doc.errors.length) {
      expect(false, `${where}: YAML error: ${doc.errors[0].message}`);
      continue;
    }
    const value = doc.toJS(options);
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function readYamlDocs(file) {
  return parseDocs(readFileSync(file, 'utf8'), rel(file));
}

function parseEnvFile(file) {
  const data = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    if (!expect(i > 0, `${rel(file)}: not KEY=value: ${line}`)) continue;
    data[line.slice(0, i)] = line.slice(i + 1);
  }
  return data;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/**
 * Without kustomize: reads the kustomization like kustomize would for what the checks need (resources, directories
 * recursively, configMap/secret generators without hash suffixes, images, namespace). Patches are only checked to
 * exist and parse; they are not applied.
 */
function buildLocally(dir) {
  const kfile = KUSTOMIZATION_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!expect(kfile, `${rel(dir)}: no kustomization.yaml`)) return [];
  const [k] = readYamlDocs(kfile);
  if (!expect(k && typeof k === 'object', `${rel(kfile)}: empty`)) return [];
  const out = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    if (!expect(existsSync(p), `${rel(kfile)}: resource ${r} does not exist`)) continue;
    out.push(...(statSync(p).isDirectory() ? buildLocally(p) : readYamlDocs(p)));
  }
  for (const [kind, generators] of [
    ['ConfigMap', k.configMapGenerator],
    ['Secret', k.secretGenerator],
  ]) {
    for (const g of generators ?? []) {
      const data = {};
      for (const e of g.envs ?? (g.env ? [g.env] : [])) {
        const f = path.join(dir, e);
        if (expect(existsSync(f), `${rel(kfile)}: ${kind} ${g.name}: env file ${e} does not exist`)) Object.assign(data, parseEnvFile(f));
      }
      for (const l of g.literals ?? []) {
        const i = String(l).indexOf('=');
        if (expect(i > 0, `${rel(kfile)}: ${kind} ${g.name}: literal is not KEY=value: ${l}`)) data[l.slice(0, i)] = l.slice(i + 1);
      }
      for (const entry of g.files ?? []) {
        const [key, file] = entry.includes('=') ? entry.split('=', 2) : [path.basename(entry), entry];
        const f = path.join(dir, file);
        if (expect(existsSync(f), `${rel(kfile)}: ${kind} ${g.name}: file ${file} does not exist`)) data[key] = readFileSync(f, 'utf8');
      }
      const existing = out.find((r) => r.kind === kind && r.metadata?.name === g.name);
      const field = kind === 'Secret' ? 'stringData' : 'data';
      if (g.behavior === 'merge' || g.behavior === 'replace') {
        if (!expect(existing, `${rel(kfile)}: ${g.behavior} of ${kind} ${g.name}, which no resource defines`)) continue;
        existing[field] = g.behavior === 'merge' ? { ...existing[field], ...data } : data;
      } else {
        expect(!existing, `${rel(kfile)}: ${kind} ${g.name} generated twice`);
        out.push({ apiVersion: 'v1', kind, metadata: { name: g.name }, [field]: data });
      }
    }
  }
  for (const p of [...(k.patches ?? []), ...(k.patchesStrategicMerge ?? []).map((x) => ({ path: x }))]) {
    if (typeof p.path !== 'string') continue;
    const f = path.join(dir, p.path);
    if (expect(existsSync(f), `${rel(kfile)}: patch ${p.path} does not exist`)) readYamlDocs(f);
  }
  for (const img of k.images ?? []) {
    for (const r of out) {
      for (const c of containersOf(r)) {
        const [name, tag] = splitImage(c.image);
        if (name !== img.name) continue;
        const base = img.newName ?? name;
        c.image = img.digest ? `${base}@${img.digest}` : `${base}${img.newTag ? `:${img.newTag}` : tag ? `:${tag}` : ''}`;
      }
    }
  }
  if (k.namespace) for (const r of out) if (r.kind !== 'Namespace' && r.metadata) r.metadata.namespace = k.namespace;
  return out;
}

/** Builds a kustomization with kubectl/kustomize when present, else with buildLocally. */
function build(dir) {
  if (!NO_TOOLS) {
    for (const [cmd, args] of [
      ['kubectl', ['kustomize', dir]],
      ['kustomize', ['build', dir]],
    ]) {
      const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
      if (r.error && r.error.code === 'ENOENT') continue;
      const tool = `${cmd} ${args[0]}`;
      if (!expect(!r.error && r.status === 0, `${rel(dir)}: \`${tool}\` failed: ${(r.error?.message ?? r.stderr ?? '').trim()}`)) return null;
      return { tool, resources: parseDocs(r.stdout, `${tool} ${rel(dir)}`) };
    }
  }
  return { tool: 'built-in reader', resources: buildLocally(dir) };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers over manifests
// ---------------------------------------------------------------------------------------------------------------

function podSpecOf(r) {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(r?.kind)) return r.spec?.template?.spec;
  if (r?.kind === 'CronJob') return r.spec?.jobTemplate?.spec?.template?.spec;
  return undefined;
}
function podLabelsOf(r) {
  if (r?.kind === 'CronJob') return r.spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {};
  return r?.spec?.template?.metadata?.labels ?? {};
}
function containersOf(r) {
  const spec = podSpecOf(r);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}
function splitImage(image = '') {
  const at = image.indexOf('@');
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, ''];
}
/** A label selector ({matchLabels, matchExpressions}) against a label map. */
function selects(selector, labels = {}) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok = {
      In: has && (e.values ?? []).includes(labels[e.key]),
      NotIn: !has || !(e.values ?? []).includes(labels[e.key]),
      Exists: has,
      DoesNotExist: !has,
    }[e.operator];
    if (!ok) return false;
  }
  return true;
}
const asNumber = (v) => (v === undefined || v === null || v === '' ? NaN : Number(v));

class Index {
  constructor(resources) {
    this.resources = resources;
    this.byKey = new Map(resources.filter((r) => r?.kind && r.metadata?.name).map((r) => [`${r.kind}/${r.metadata.name}`, r]));
  }
  get(kind, name) {
    return this.byKey.get(`${kind}/${name}`);
  }
  all(kind) {
    return this.resources.filter((r) => r?.kind === kind);
  }
  /** Deployments and Jobs with their pod labels and specs. */
  workloads() {
    return this.resources
      .filter((r) => podSpecOf(r))
      .map((r) => ({ kind: r.kind, name: r.metadata.name, labels: podLabelsOf(r), spec: podSpecOf(r), resource: r }));
  }
  /** Value of a Secret key (base64 `data` from kustomize, or `stringData`). */
  secretValue(secret, key) {
    if (secret?.stringData && key in secret.stringData) return String(secret.stringData[key]);
    if (secret?.data && key in secret.data) return Buffer.from(String(secret.data[key]).replace(/\s/g, ''), 'base64').toString('utf8');
    return undefined;
  }
  /** A container's environment: name -> { value?, source }. */
  env(container) {
    const env = new Map();
    for (const src of container.envFrom ?? []) {
      const prefix = src.prefix ?? '';
      if (src.configMapRef) {
        const cm = this.get('ConfigMap', src.configMapRef.name);
        for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(prefix + k, { value: String(v), source: `ConfigMap ${src.configMapRef.name}` });
      }
      if (src.secretRef) {
        const s = this.get('Secret', src.secretRef.name);
        for (const k of Object.keys({ ...s?.data, ...s?.stringData }))
          env.set(prefix + k, { secret: src.secretRef.name, source: `Secret ${src.secretRef.name}` });
      }
    }
    for (const e of container.env ?? []) {
      if (e.valueFrom?.secretKeyRef)
        env.set(e.name, { secret: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key, source: `Secret ${e.valueFrom.secretKeyRef.name}` });
      else if (e.valueFrom?.configMapKeyRef) {
        const cm = this.get('ConfigMap', e.valueFrom.configMapKeyRef.name);
        env.set(e.name, { value: cm?.data?.[e.valueFrom.configMapKeyRef.key], source: `ConfigMap ${e.valueFrom.configMapKeyRef.name}` });
      } else env.set(e.name, { value: e.value === undefined ? '' : String(e.value), source: 'env' });
    }
    return env;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes checks
// ---------------------------------------------------------------------------------------------------------------

function checkManifests(where, resources, { secretsProvided }) {
  const ix = new Index(resources);
  const at = (what) => `${where}: ${what}`;
  const workloads = ix.workloads();
  const deployments = ix.all('Deployment');

  // Every object is well-formed.
  for (const r of resources)
    expect(r?.apiVersion && r?.kind && r?.metadata?.name, at(`object without apiVersion/kind/metadata.name: ${JSON.stringify(r).slice(0, 120)}`));

  // References: every ConfigMap/Secret a pod uses exists and has the key.
  const missingSecrets = new Set();
  for (const w of workloads) {
    const refs = [];
    for (const c of containersOf(w.resource)) {
      for (const src of c.envFrom ?? []) {
        if (src.configMapRef) refs.push(['ConfigMap', src.configMapRef.name, undefined, src.configMapRef.optional]);
        if (src.secretRef) refs.push(['Secret', src.secretRef.name, undefined, src.secretRef.optional]);
      }
      for (const e of c.env ?? []) {
        const cm = e.valueFrom?.configMapKeyRef;
        const s = e.valueFrom?.secretKeyRef;
        if (cm) refs.push(['ConfigMap', cm.name, cm.key, cm.optional]);
        if (s) refs.push(['Secret', s.name, s.key, s.optional]);
      }
    }
    for (const v of w.spec.volumes ?? []) {
      if (v.configMap) refs.push(['ConfigMap', v.configMap.name, undefined, v.configMap.optional]);
      if (v.secret) refs.push(['Secret', v.secret.secretName, undefined, v.secret.optional]);
    }
    for (const [kind, name, key, optional] of refs) {
      if (optional) continue;
      const obj = ix.get(kind, name);
      if (kind === 'Secret' && !secretsProvided) {
        if (!obj) missingSecrets.add(name);
        continue;
      }
      if (!expect(obj, at(`${w.kind} ${w.name} uses ${kind} ${name}, which the build does not contain`))) continue;
      if (key) expect(key in { ...obj.data, ...obj.stringData }, at(`${w.kind} ${w.name} uses key ${key} of ${kind} ${name}, which it does not have`));
    }
  }
  if (missingSecrets.size) notes.push(`${where}: leaves Secrets to the overlays: ${[...missingSecrets].sort().join(', ')}`);

  // Pod and container hardening, resources, images: every Deployment and Job.
  for (const w of workloads) {
    const pod = w.spec;
    const id = `${w.kind} ${w.name}`;
    expect(pod.automountServiceAccountToken === false, at(`${id}: automountServiceAccountToken must be false (no API access needed)`));
    expect(
      pod.enableServiceLinks === false,
      at(`${id}: enableServiceLinks must be false (Service env vars such as SESSION_PORT=tcp://... leak into the process)`),
    );
    expect(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC, at(`${id}: must not use host namespaces`));
    const psc = pod.securityContext ?? {};
    const tmpVolumes = new Set((pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
    for (const c of containersOf(w.resource)) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext ?? {};
      const eff = (k) => (sc[k] !== undefined ? sc[k] : psc[k]);
      expect(eff('runAsNonRoot') === true, at(`${cid}: runAsNonRoot must be true`));
      expect(eff('runAsUser') === 1000, at(`${cid}: runAsUser must be 1000 (the image's node user)`));
      expect(sc.readOnlyRootFilesystem === true, at(`${cid}: readOnlyRootFilesystem must be true`));
      expect(sc.allowPrivilegeEscalation === false, at(`${cid}: allowPrivilegeEscalation must be false`));
      expect(sc.privileged !== true, at(`${cid}: must not be privileged`));
      expect((sc.capabilities?.drop ?? []).includes('ALL'), at(`${cid}: capabilities must drop ALL`));
      expect(!(sc.capabilities?.add ?? []).length, at(`${cid}: must not add capabilities`));
      expect((sc.seccompProfile ?? psc.seccompProfile)?.type === 'RuntimeDefault', at(`${cid}: seccompProfile must be RuntimeDefault`));
      expect(
        (c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp' && tmpVolumes.has(m.name)),
        at(`${cid}: needs an emptyDir at /tmp (read-only root filesystem)`),
      );
      const res = c.resources ?? {};
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) expect(res[kind]?.[r] !== undefined, at(`${cid}: resources.${kind}.${r} missing`));
      }
      const [, tag] = splitImage(c.image);
      expect(c.image && tag && tag !== 'latest', at(`${cid}: image ${c.image} must carry a tag or digest (not latest)`));
    }
  }

  // Services of the repository <-> Deployments.
  for (const d of deployments) {
    if (podLabelsOf(d)['app.kubernetes.io/component'] === 'server') {
      expect(
        SERVICES.some((s) => s.name === d.metadata.name),
        at(`Deployment ${d.metadata.name} has no services/${d.metadata.name}`),
      );
    }
  }
  const adminSecrets = new Set();
  const jobs = ix.all('Job');
  for (const svc of SCHEMA_SERVICES) {
    const runsMigrate = (c) => [...(c.command ?? []), ...(c.args ?? [])].join(' ').includes('dist/migrate.js');
    const job = jobs.find((j) => containersOf(j).some((c) => runsMigrate(c) && splitImage(c.image)[0].split('/').pop() === svc.name));
    if (!expect(job, at(`no migration Job for schema ${svc.schema} (a Job running node dist/migrate.js with the ${svc.name} image)`))) continue;
    const c = containersOf(job).find(runsMigrate);
    const deployment = ix.get('Deployment', svc.name);
    const depImage = deployment && containersOf(deployment)[0]?.image;
    expect(
      c.image === depImage,
      at(`Job ${job.metadata.name}: image ${c.image} must be exactly the Deployment's (${depImage}): migrations belong to the code they ship with`),
    );
    const env = ix.env(c);
    const url = env.get('DATABASE_URL');
    if (expect(url?.secret, at(`Job ${job.metadata.name}: DATABASE_URL (admin) must come from a Secret`))) adminSecrets.add(url.secret);
    expect(job.spec?.template?.spec?.restartPolicy !== 'Always', at(`Job ${job.metadata.name}: restartPolicy must be Never or OnFailure`));
    expect(
      job.spec?.backoffLimit !== undefined && job.spec?.activeDeadlineSeconds !== undefined,
      at(`Job ${job.metadata.name}: set backoffLimit and activeDeadlineSeconds`),
    );
    const depEnv = deployment ? ix.env(containersOf(deployment)[0] ?? {}) : new Map();
    expect(
      env.get('DB_ROLE')?.value === depEnv.get('DB_ROLE')?.value,
      at(`Job ${job.metadata.name}: DB_ROLE (${env.get('DB_ROLE')?.value}) differs from Deployment ${svc.name} (${depEnv.get('DB_ROLE')?.value})`),
    );
    expect(
      env.get('DB_PASSWORD')?.secret && env.get('DB_PASSWORD')?.secret === depEnv.get('DB_PASSWORD')?.secret,
      at(`Job ${job.metadata.name}: DB_PASSWORD must come from the same Secret as Deployment ${svc.name}'s`),
    );
  }
  for (const j of jobs)
    expect(
      !podLabelsOf(j)['app.kubernetes.io/name'] || !SERVICES.some((s) => s.name === podLabelsOf(j)['app.kubernetes.io/name']),
      at(`Job ${j.metadata.name}: pod label app.kubernetes.io/name must differ from the services' (their Services would route to it)`),
    );

  for (const svc of SERVICES) {
    const d = ix.get('Deployment', svc.name);
    if (!expect(d, at(`no Deployment ${svc.name} (services/${svc.name} exists)`))) continue;
    const labels = podLabelsOf(d);
    expect(selects(d.spec?.selector, labels), at(`Deployment ${svc.name}: selector does not match its pod labels`));
    const c = d.spec.template.spec.containers?.[0] ?? {};
    const http = (c.ports ?? []).find((p) => p.name === 'http');
    expect(http?.containerPort === svc.port, at(`Deployment ${svc.name}: container port "http" must be ${svc.port} (PORT default in config.ts)`));
    const portOk = (p) => p === 'http' || p === svc.port;
    const lp = c.livenessProbe?.httpGet;
    const rp = c.readinessProbe?.httpGet;
    expect(lp?.path === '/health/live' && portOk(lp.port), at(`Deployment ${svc.name}: livenessProbe must GET /health/live on the http port`));
    expect(rp?.path === '/health/ready' && portOk(rp.port), at(`Deployment ${svc.name}: readinessProbe must GET /health/ready on the http port`));
    expect(
      c.startupProbe?.httpGet?.path === '/health/live',
      at(`Deployment ${svc.name}: startupProbe must GET /health/live (slow boots are not liveness failures)`),
    );
    expect(
      d.spec.template.metadata?.annotations?.['prometheus.io/path'] === '/metrics',
      at(`Deployment ${svc.name}: annotate prometheus.io/scrape, port and path=/metrics`),
    );

    // Environment: required variables present, every name documented in .env.example, wiring right.
    const env = ix.env(c);
    for (const key of svc.required) expect(env.has(key), at(`Deployment ${svc.name}: required variable ${key} is not set`));
    for (const key of env.keys()) expect(DOCUMENTED.has(key), at(`Deployment ${svc.name}: variable ${key} is not documented in .env.example`));
    expect(env.get('PORT')?.value === String(svc.port), at(`Deployment ${svc.name}: PORT must be ${svc.port}, is ${env.get('PORT')?.value}`));
    expect(env.get('HOST')?.value === '0.0.0.0', at(`Deployment ${svc.name}: HOST must be 0.0.0.0 in a container`));
    expect(env.get('NODE_ENV')?.value === 'production', at(`Deployment ${svc.name}: NODE_ENV must be production`));
    if (svc.database) {
      expect(env.get('MIGRATE_ON_START')?.value === 'false', at(`Deployment ${svc.name}: MIGRATE_ON_START must be "false" (the migration Job migrates)`));
      expect(env.get('DB_PASSWORD')?.secret, at(`Deployment ${svc.name}: DB_PASSWORD must come from a Secret`));
      const dbUrl = env.get('DATABASE_URL');
      if (dbUrl?.value) {
        try {
          expect(
            !new URL(dbUrl.value).password,
            at(`Deployment ${svc.name}: DATABASE_URL must carry no password (the admin URL belongs to the migration Job only)`),
          );
        } catch {
          expect(false, at(`Deployment ${svc.name}: DATABASE_URL is not a URL`));
        }
      }
    }
    for (const key of ['JWT_SECRET', 'STEP_DATA_ENCRYPTION_KEY', 'DB_PASSWORD']) {
      if (env.has(key)) expect(env.get(key).secret, at(`Deployment ${svc.name}: ${key} must come from a Secret, not ${env.get(key).source}`));
    }
    if (svc === GATEWAY) {
      for (const up of UPSTREAMS) {
        const v = env.get(upstreamUrlVar(up))?.value;
        expect(v === `http://${up.name}:${up.port}`, at(`Deployment gateway: ${upstreamUrlVar(up)} must be http://${up.name}:${up.port}, is ${v}`));
      }
      expect(env.get('TRUST_PROXY')?.value === 'true', at('Deployment gateway: TRUST_PROXY must be true behind the ingress controller'));
    }

    // Service, HPA, PDB.
    const services = ix.all('Service').filter((s) => s.spec?.selector && selects({ matchLabels: s.spec.selector }, labels));
    expect(
      services.some((s) => s.metadata.name === svc.name),
      at(`Deployment ${svc.name}: no Service named ${svc.name} selecting its pods`),
    );
    for (const s of services) {
      expect(
        (s.spec.ports ?? []).some((p) => p.port === svc.port && portOk(p.targetPort ?? p.port)),
        at(`Service ${s.metadata.name}: must expose port ${svc.port} -> http`),
      );
      for (const j of jobs)
        expect(!selects({ matchLabels: s.spec.selector }, podLabelsOf(j)), at(`Service ${s.metadata.name} also selects the pods of Job ${j.metadata.name}`));
    }
    const hpa = ix.all('HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef?.kind === 'Deployment' && h.spec.scaleTargetRef.name === svc.name);
    if (expect(hpa, at(`Deployment ${svc.name}: no HorizontalPodAutoscaler`))) {
      expect(hpa.apiVersion === 'autoscaling/v2', at(`HPA ${hpa.metadata.name}: apiVersion must be autoscaling/v2`));
      expect(
        (hpa.spec.metrics ?? []).some((m) => m.type === 'Resource' && m.resource?.name === 'cpu'),
        at(`HPA ${hpa.metadata.name}: needs a cpu Resource metric`),
      );
      expect(
        hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas >= hpa.spec.minReplicas,
        at(`HPA ${hpa.metadata.name}: minReplicas >= 2 (availability) and maxReplicas >= minReplicas`),
      );
      expect(d.spec.replicas === undefined, at(`Deployment ${svc.name}: must not set spec.replicas (its HPA owns the count; apply would reset it)`));
    }
    const pdbs = ix.all('PodDisruptionBudget').filter((p) => selects(p.spec?.selector, labels));
    if (expect(pdbs.length === 1, at(`Deployment ${svc.name}: needs exactly one PodDisruptionBudget, has ${pdbs.length}`))) {
      const pdb = pdbs[0];
      expect(pdb.apiVersion === 'policy/v1', at(`PDB ${pdb.metadata.name}: apiVersion must be policy/v1`));
      expect(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined, at(`PDB ${pdb.metadata.name}: set maxUnavailable or minAvailable`));
    }
    // Least privilege: the admin database URL reaches the migration Jobs only.
    for (const [key, e] of env) expect(!e.secret || !adminSecrets.has(e.secret), at(`Deployment ${svc.name}: ${key} comes from the admin Secret ${e.secret}`));
  }

  checkNatsStreams(at, ix);
  checkNetworkPolicies(at, ix, workloads);
  checkIngress(at, ix);
  return ix;
}

/** The broker migration Job: `pnpm bus:migrate`'s code (packages/broker owns every limit; nothing is repeated here). */
function checkNatsStreams(at, ix) {
  const common = ix.resources.find((r) => r.kind === 'ConfigMap' && r.data?.EVENT_STREAM);
  if (!expect(common, at('no ConfigMap sets EVENT_STREAM (shared settings of the services)'))) return;
  const job = ix.all('Job').find((j) => containersOf(j).some((x) => isBrokerMigration(x)));
  if (!expect(job, at('no Job runs the broker migration (node node_modules/@glavito/broker/dist/cli.js)'))) return;
  const [container] = containersOf(job).filter((x) => isBrokerMigration(x));
  const fromConfigMaps = new Set((container.envFrom ?? []).map((e) => e.configMapRef?.name).filter(Boolean));
  // It must read the names the services check: every ConfigMap that sets a broker variable.
  for (const key of ['EVENT_STREAM', 'EVENT_RETENTION', 'PRESENCE_BUCKET', 'PRESENCE_TTL', 'RATE_LIMIT_WINDOW']) {
    const holders = ix.resources.filter((r) => r.kind === 'ConfigMap' && r.data && key in r.data).map((r) => r.metadata.name);
    for (const name of holders) expect(fromConfigMaps.has(name), at(`Job ${job.metadata.name}: must read ConfigMap ${name} (it sets ${key})`));
  }
  const replicas = (container.env ?? []).find((e) => e.name === 'NATS_STREAM_REPLICAS')?.value;
  expect(Number(replicas) >= 3, at(`Job ${job.metadata.name}: NATS_STREAM_REPLICAS must be at least 3 on the NATS cluster, is ${replicas}`));
}

const isBrokerMigration = (container) => [...(container.command ?? []), ...(container.args ?? [])].join(' ').includes('@glavito/broker/dist/cli.js');

function checkNetworkPolicies(at, ix, workloads) {
  const policies = ix.all('NetworkPolicy');
  if (!expect(policies.length > 0, at('no NetworkPolicy'))) return;
  const isEmptySelector = (s) => !s || (!Object.keys(s.matchLabels ?? {}).length && !(s.matchExpressions ?? []).length);
  const types = (p) => p.spec?.policyTypes ?? (p.spec?.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  const denyIngress = policies.some((p) => isEmptySelector(p.spec?.podSelector) && types(p).includes('Ingress') && !(p.spec.ingress ?? []).length);
  expect(denyIngress, at('no default-deny ingress NetworkPolicy (podSelector {}, policyTypes Ingress, no rules)'));
  const denyEgress = policies.some((p) => isEmptySelector(p.spec?.podSelector) && types(p).includes('Egress') && !(p.spec.egress ?? []).length);

  const rulesFor = (w, type) => {
    const field = type === 'Ingress' ? 'ingress' : 'egress';
    return policies.filter((p) => types(p).includes(type) && selects(p.spec.podSelector, w.labels)).flatMap((p) => p.spec[field] ?? []);
  };
  const peerNames = (peers) => {
    if (!peers || !peers.length) return ['anywhere'];
    return peers.flatMap((peer) => {
      if (peer.ipBlock) return [`cidr:${peer.ipBlock.cidr}`];
      if (peer.namespaceSelector) {
        const name = peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'];
        return [name ? `namespace:${name}` : 'namespace:*'];
      }
      const hit = workloads.filter((w) => selects(peer.podSelector, w.labels)).map((w) => `pod:${w.name}`);
      return hit.length ? hit : ['pod:(none)'];
    });
  };
  const portMatches = (rule, port) => !rule.ports || rule.ports.some((p) => p.port === undefined || p.port === port || p.port === 'http');
  const monitoring = (n) => /^namespace:(monitoring|prometheus)/.test(n);

  for (const w of workloads) {
    const id = `${w.kind} ${w.name}`;
    const peers = new Set(rulesFor(w, 'Ingress').flatMap((r) => peerNames(r.from)));
    if (w.kind !== 'Deployment') {
      expect(peers.size === 0, at(`${id}: nothing may connect to a Job's pods, allowed: ${[...peers].join(', ')}`));
      continue;
    }
    if (w.name === 'gateway') {
      expect(
        [...peers].some((p) => /^namespace:.*ingress/.test(p)),
        at('gateway: must be reachable from the ingress controller namespace'),
      );
      for (const p of peers)
        expect(/^namespace:.*ingress/.test(p) || monitoring(p), at(`gateway: reachable from ${p}; only the ingress controller and monitoring may connect`));
    } else if (SERVICES.some((s) => s.name === w.name)) {
      expect(peers.has('pod:gateway'), at(`${w.name}: the gateway must be allowed to connect`));
      for (const p of peers) expect(p === 'pod:gateway' || monitoring(p), at(`${w.name}: reachable from ${p}; only the gateway and monitoring may connect`));
      expect([...peers].some(monitoring), at(`${w.name}: the monitoring namespace must be allowed to scrape /metrics`));
    }
  }

  if (!expect(denyEgress, at('no default-deny egress NetworkPolicy (podSelector {}, policyTypes Egress, no rules)'))) return;
  const egress = (w) => rulesFor(w, 'Egress');
  const allowsPort = (w, port) => egress(w).some((r) => r.ports?.some((p) => p.port === port));
  const internet = (w) => egress(w).some((r) => (r.to ?? []).some((t) => t.ipBlock?.cidr === '0.0.0.0/0'));
  const dbClients = new Set(SCHEMA_SERVICES.map((s) => s.name));
  const busClients = new Set(SERVICES.filter((s) => s.natsClient).map((s) => s.name));
  for (const w of workloads) {
    const id = `${w.kind} ${w.name}`;
    const migration = w.kind === 'Job' && containersOf(w.resource).some((c) => (c.command ?? []).join(' ').includes('dist/migrate.js'));
    const natsJob = w.kind === 'Job' && containersOf(w.resource).some((c) => isBrokerMigration(c));
    expect(allowsPort(w, 53), at(`${id}: needs DNS egress (port 53)`));
    const needsDb = dbClients.has(w.name) || migration;
    const needsBus = busClients.has(w.name) || natsJob;
    expect(allowsPort(w, 5432) === needsDb, at(`${id}: Postgres egress (5432) must be ${needsDb ? 'allowed' : 'closed'}`));
    expect(allowsPort(w, 4222) === needsBus, at(`${id}: NATS egress (4222) must be ${needsBus ? 'allowed' : 'closed'}`));
    if (w.name === 'connection-test') {
      const rule = egress(w).find((r) => (r.to ?? []).some((t) => t.ipBlock?.cidr === '0.0.0.0/0'));
      const except = new Set((rule?.to ?? []).flatMap((t) => (t.ipBlock?.cidr === '0.0.0.0/0' ? (t.ipBlock.except ?? []) : [])));
      if (expect(rule, at('connection-test: needs internet egress (ipBlock 0.0.0.0/0)'))) {
        for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', '100.64.0.0/10']) {
          expect(except.has(cidr), at(`connection-test: internet egress must exclude ${cidr}`));
        }
      }
    } else if (w.name === 'notification') {
      // The system SMTP relay is outside the cluster: public addresses, SMTP ports only.
      const smtpPorts = new Set([25, 465, 587]);
      for (const r of egress(w).filter((r) => (r.to ?? []).some((t) => t.ipBlock?.cidr === '0.0.0.0/0'))) {
        expect(
          (r.ports ?? []).length > 0 && r.ports.every((p) => smtpPorts.has(p.port)),
          at('notification: internet egress only on SMTP ports (25, 465, 587)'),
        );
        const except = new Set((r.to ?? []).flatMap((t) => (t.ipBlock?.cidr === '0.0.0.0/0' ? (t.ipBlock.except ?? []) : [])));
        for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', '100.64.0.0/10'])
          expect(except.has(cidr), at(`notification: SMTP egress must exclude ${cidr}`));
      }
    } else if (w.name === 'payment') {
      // Stripe's API is outside the cluster: public addresses, HTTPS only.
      for (const r of egress(w).filter((r) => (r.to ?? []).some((t) => t.ipBlock?.cidr === '0.0.0.0/0'))) {
        expect((r.ports ?? []).length > 0 && r.ports.every((p) => p.port === 443), at('payment: internet egress only on HTTPS (443)'));
        const except = new Set((r.to ?? []).flatMap((t) => (t.ipBlock?.cidr === '0.0.0.0/0' ? (t.ipBlock.except ?? []) : [])));
        for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', '100.64.0.0/10'])
          expect(except.has(cidr), at(`payment: Stripe egress must exclude ${cidr}`));
      }
    } else {
      expect(
        !internet(w),
        at(
          `${id}: must not have internet egress (0.0.0.0/0); only connection-test tests outside servers (notification reaches its SMTP relay, payment Stripe's API)`,
        ),
      );
    }
    if (w.name === 'gateway') {
      for (const up of UPSTREAMS) {
        const ok = egress(w).some(
          (r) =>
            (r.to ?? []).some((t) => t.podSelector && !t.namespaceSelector && selects(t.podSelector, podLabelsOf(ix.get('Deployment', up.name)))) &&
            portMatches(r, up.port),
        );
        expect(ok, at(`gateway: egress to ${up.name}:${up.port} must be allowed`));
      }
    }
  }
}

function checkIngress(at, ix) {
  const ingresses = ix.all('Ingress');
  if (!expect(ingresses.length > 0, at('no Ingress for the gateway'))) return;
  const gatewayService = ix.get('Service', 'gateway');
  for (const ing of ingresses) {
    const id = `Ingress ${ing.metadata.name}`;
    const backends = (ing.spec?.rules ?? []).flatMap((r) => r.http?.paths ?? []);
    expect(backends.length > 0, at(`${id}: no paths`));
    for (const p of backends) {
      const svc = p.backend?.service;
      expect(svc?.name === 'gateway', at(`${id}: path ${p.path} must route to the gateway (the only public service), routes to ${svc?.name}`));
      const portOk = (gatewayService?.spec?.ports ?? []).some((sp) => (svc?.port?.name ? sp.name === svc.port.name : sp.port === svc?.port?.number));
      expect(portOk, at(`${id}: path ${p.path} uses a port the gateway Service does not have`));
    }
    expect(
      backends.some((p) => p.path === '/onboarding' || p.path === '/'),
      at(`${id}: must publish /onboarding (API and WebSocket)`),
    );
    const a = ing.metadata.annotations ?? {};
    const heartbeatS = 30;
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
      const v = asNumber(a[`nginx.ingress.kubernetes.io/${key}`]);
      expect(
        v >= heartbeatS * 10,
        at(
          `${id}: nginx.ingress.kubernetes.io/${key} must be >= ${heartbeatS * 10} s for WebSockets (nginx default 60 s), is ${a[`nginx.ingress.kubernetes.io/${key}`]}`,
        ),
      );
    }
    const body = /^(\d+)([km]?)$/i.exec(a['nginx.ingress.kubernetes.io/proxy-body-size'] ?? '');
    const bytes = body ? Number(body[1]) * { '': 1, k: 1024, m: 1024 * 1024 }[body[2].toLowerCase()] : 0;
    const gwLimit = Number(ix.env(containersOf(ix.get('Deployment', 'gateway') ?? {})[0] ?? {}).get('BODY_LIMIT_BYTES')?.value ?? 1_048_576);
    expect(bytes > gwLimit, at(`${id}: proxy-body-size must exceed the gateway's BODY_LIMIT_BYTES (${gwLimit}) so the API answers 413 itself`));
    expect(ing.spec?.ingressClassName || a['kubernetes.io/ingress.class'], at(`${id}: set spec.ingressClassName`));
  }
}

function checkOverlay(where, ix) {
  const at = (what) => `${where}: ${what}`;
  const namespaces = new Set(
    ix.resources.filter((r) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(r.kind)).map((r) => r.metadata?.namespace),
  );
  expect(namespaces.size === 1 && Boolean([...namespaces][0]), at(`every object must be in one namespace, found: ${[...namespaces].join(', ') || '(none)'}`));
  const placeholders = [];
  for (const s of ix.all('Secret')) {
    for (const key of Object.keys({ ...s.data, ...s.stringData }))
      if (/REPLACE_ME/.test(ix.secretValue(s, key) ?? '')) placeholders.push(`${s.metadata.name}/${key}`);
  }
  if (placeholders.length) notes.push(`${where}: placeholder secrets (must be replaced before deploying): ${placeholders.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// docker-compose.yml, Dockerfile, .dockerignore
// ---------------------------------------------------------------------------------------------------------------

function checkCompose() {
  const file = path.join(ROOT, 'docker-compose.yml');
  const at = (what) => `docker-compose.yml: ${what}`;
  if (!expect(existsSync(file), 'docker-compose.yml is missing')) return;
  const [doc] = parseDocs(readFileSync(file, 'utf8'), 'docker-compose.yml', { merge: true });
  const services = doc?.services ?? {};
  if (!expect(Object.keys(services).length, at('no services'))) return;
  const envOf = (s) => (Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((e) => e.split(/=(.*)/s).slice(0, 2))) : { ...s.environment });
  const dependsOn = (s) =>
    Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((n) => [n, { condition: 'service_started' }])) : (s.depends_on ?? {});

  for (const [name, s] of Object.entries(services)) {
    expect(s.restart !== undefined, at(`service ${name}: set a restart policy`));
    if (s.restart === 'no') {
      expect(s.healthcheck?.disable === true, at(`one-shot ${name}: disable the image's healthcheck (healthcheck: { disable: true })`));
    } else {
      expect(
        ['always', 'unless-stopped', 'on-failure'].some((p) => String(s.restart).startsWith(p)),
        at(`service ${name}: restart must be always, unless-stopped or on-failure`),
      );
      expect(Array.isArray(s.healthcheck?.test) && s.healthcheck.test.length > 1 && !s.healthcheck.disable, at(`service ${name}: needs a healthcheck`));
    }
  }
  expect(services.postgres && services.nats, at('needs the postgres and nats services'));
  expect((services.nats?.command ?? []).includes('-js'), at('nats must run with JetStream (-js)'));

  for (const svc of SERVICES) {
    const s = services[svc.name];
    if (!expect(s, at(`no service ${svc.name} (services/${svc.name} exists)`))) continue;
    expect(
      s.build?.dockerfile === 'infra/docker/Dockerfile' && s.build?.args?.SERVICE === svc.name,
      at(`${svc.name}: build infra/docker/Dockerfile with SERVICE=${svc.name}`),
    );
    const env = envOf(s);
    for (const key of svc.required) expect(env[key] !== undefined && env[key] !== '', at(`${svc.name}: required variable ${key} is not set`));
    for (const key of Object.keys(env)) expect(DOCUMENTED.has(key), at(`${svc.name}: variable ${key} is not documented in .env.example`));
    expect(String(env.PORT) === String(svc.port), at(`${svc.name}: PORT must be ${svc.port}`));
    expect(env.HOST === '0.0.0.0', at(`${svc.name}: HOST must be 0.0.0.0`));
    expect(s.restart === 'unless-stopped' || s.restart === 'always', at(`${svc.name}: restart unless-stopped (or always)`));
    expect(s.healthcheck?.test?.join(' ').includes(`:${svc.port}/health/`), at(`${svc.name}: healthcheck must probe :${svc.port}/health/ready`));
    const deps = dependsOn(s);
    if (svc.natsClient) expect(deps.nats?.condition === 'service_healthy', at(`${svc.name}: depends_on nats (service_healthy)`));
    if (svc.natsClient)
      expect(
        deps['bus-migrate']?.condition === 'service_completed_successfully',
        at(`${svc.name}: depends_on bus-migrate (service_completed_successfully): services only check the broker state`),
      );
    if (svc.hasSchema) {
      const mname = `${svc.name}-migrate`;
      const m = services[mname];
      expect(env.MIGRATE_ON_START === 'false', at(`${svc.name}: MIGRATE_ON_START must be "false" (${mname} migrates)`));
      expect(deps[mname]?.condition === 'service_completed_successfully', at(`${svc.name}: depends_on ${mname} (service_completed_successfully)`));
      try {
        expect(!new URL(env.DATABASE_URL).password, at(`${svc.name}: DATABASE_URL must carry no password (it runs as DB_ROLE)`));
      } catch {
        expect(false, at(`${svc.name}: DATABASE_URL is not a URL`));
      }
      if (!expect(m, at(`no one-shot ${mname} for schema ${svc.schema}`))) continue;
      const menv = envOf(m);
      expect(m.restart === 'no', at(`${mname}: restart must be "no"`));
      expect([...(m.command ?? [])].join(' ').includes('dist/migrate.js'), at(`${mname}: command must be node dist/migrate.js`));
      expect(m.build?.args?.SERVICE === svc.name || m.image === s.image, at(`${mname}: must use the ${svc.name} image`));
      expect(menv.DB_ROLE === env.DB_ROLE && menv.DB_PASSWORD === env.DB_PASSWORD, at(`${mname}: DB_ROLE and DB_PASSWORD must equal ${svc.name}'s`));
      expect(dependsOn(m).postgres?.condition === 'service_healthy', at(`${mname}: depends_on postgres (service_healthy)`));
      for (const key of Object.keys(menv)) expect(DOCUMENTED.has(key), at(`${mname}: variable ${key} is not documented in .env.example`));
    }
    if (svc === GATEWAY) {
      for (const up of UPSTREAMS) {
        expect(env[upstreamUrlVar(up)] === `http://${up.name}:${up.port}`, at(`gateway: ${upstreamUrlVar(up)} must be http://${up.name}:${up.port}`));
        expect(deps[up.name]?.condition === 'service_healthy', at(`gateway: depends_on ${up.name} (service_healthy)`));
      }
    }
  }

  if (NO_TOOLS) return notes.push('docker compose config: skipped (--no-tools)');
  // `docker compose` (v2 plugin) when present, else Debian's standalone `docker-compose` (which .ci/run installs).
  const candidates = [
    { cmd: 'docker', pre: ['compose'] },
    { cmd: 'docker-compose', pre: [] },
  ];
  const tool = candidates.find((c) => {
    const v = spawnSync(c.cmd, [...c.pre, 'version'], { encoding: 'utf8', timeout: 30_000 });
    return !v.error && v.status === 0;
  });
  if (!tool) return notes.push('docker compose config: not run (neither `docker compose` nor `docker-compose` is installed here)');
  const version = spawnSync(tool.cmd, [...tool.pre, 'version'], { encoding: 'utf8', timeout: 30_000 });
  const r = spawnSync(tool.cmd, [...tool.pre, '-f', file, 'config', '--quiet'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.status === 0, at(`\`${tool.cmd} ${tool.pre.join(' ')} config\` failed: ${(r.stderr ?? '').trim()}`));
  notes.push(`docker compose config: ${r.status === 0 ? 'valid' : 'INVALID'} (${(version.stdout ?? '').trim().split('\n')[0]})`);
}

function checkDockerfile() {
  const file = path.join(ROOT, 'infra/docker/Dockerfile');
  if (!expect(existsSync(file), 'infra/docker/Dockerfile is missing')) return;
  const text = readFileSync(file, 'utf8');
  const at = (what) => `infra/docker/Dockerfile: ${what}`;
  expect((text.match(/^FROM /gm) ?? []).length >= 2, at('must be multi-stage (build, runtime)'));
  expect(/^USER node$/m.test(text), at('the runtime stage must run as USER node (uid 1000, as the manifests expect)'));
  expect(/^HEALTHCHECK /m.test(text), at('needs a HEALTHCHECK'));
  expect(/deploy --prod/.test(text), at('must build the runtime tree with pnpm deploy --prod'));
  expect(/--frozen-lockfile/.test(text), at('must install with --frozen-lockfile'));
  // The images run the Node that CI tests with (.ci/run installs .nvmrc's): the same major.minor.
  const nvmrc = readFileSync(path.join(ROOT, '.nvmrc'), 'utf8').trim();
  const image = /^ARG NODE_IMAGE=node:(\d+\.\d+)[.-]/m.exec(text)?.[1];
  expect(image !== undefined && nvmrc.startsWith(`${image}.`), at(`NODE_IMAGE must be node:<major.minor of .nvmrc, ${nvmrc}>-…, not ${image ?? 'unpinned'}`));

  const ignore = path.join(ROOT, '.dockerignore');
  if (!expect(existsSync(ignore), '.dockerignore is missing (the build context would include node_modules and .git)')) return;
  const lines = readFileSync(ignore, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  // Nested ones too: every workspace package has node_modules and dist.
  for (const must of ['**/node_modules', '**/dist', '.git', '.env']) {
    expect(
      lines.some((l) => l.replace(/\/$/, '') === must),
      `.dockerignore: must exclude ${must}`,
    );
  }
  // The build needs these; a pattern that excludes them breaks `docker build`.
  const needed = [
    'package.json',
    'pnpm-lock.yaml',
    'pnpm-workspace.yaml',
    'tsconfig.base.json',
    'turbo.json',
    '.npmrc',
    ...workspaceManifests(),
    ...SERVICES.flatMap((s) => [`services/${s.name}/src`, ...(s.hasSchema ? [`services/${s.name}/drizzle`] : [])]),
  ];
  // .dockerignore patterns are anchored at the context root; ** spans directories, * and ? stay within one.
  const toRegExp = (pattern) =>
    new RegExp(
      `^${pattern
        .replace(/^\/|\/$/g, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '\u0001')
        .replace(/\*\*/g, '\u0002')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0001/g, '(?:.*/)?')
        .replace(/\u0002/g, '.*')}(?:/.*)?$`,
    );
  for (const p of needed) {
    let excluded = false;
    for (const l of lines) {
      if (l.startsWith('!')) {
        if (toRegExp(l.slice(1)).test(p)) excluded = false;
      } else if (toRegExp(l).test(p)) excluded = true;
    }
    expect(!excluded, `.dockerignore: excludes ${p}, which the image build needs`);
  }
}

/** package.json of every workspace project (pnpm-workspace.yaml `packages`, globs one level deep). */
function workspaceManifests() {
  const ws = parseYaml(readFileSync(path.join(ROOT, 'pnpm-workspace.yaml'), 'utf8'));
  const out = [];
  for (const pattern of ws?.packages ?? []) {
    if (pattern.startsWith('!')) continue;
    const dirs = pattern.endsWith('/*')
      ? existsSync(path.join(ROOT, pattern.slice(0, -2)))
        ? readdirSync(path.join(ROOT, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`)
        : []
      : [pattern];
    for (const d of dirs) if (existsSync(path.join(ROOT, d, 'package.json'))) out.push(`${d}/package.json`);
  }
  return out;
}

function checkMigrateEntries() {
  for (const svc of SCHEMA_SERVICES) {
    const dir = path.join(ROOT, 'services', svc.name);
    expect(existsSync(path.join(dir, 'src/migrate.ts')), `services/${svc.name}/src/migrate.ts is missing (the migration Job runs dist/migrate.js)`);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.scripts?.migrate === 'node dist/migrate.js', `services/${svc.name}/package.json: scripts.migrate must be "node dist/migrate.js"`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const report = [];
checkMigrateEntries();
const base = path.join(K8S, 'base');
const baseBuild = build(base);
if (baseBuild) {
  report.push(`base: ${baseBuild.resources.length} objects (${baseBuild.tool})`);
  checkManifests('infra/k8s/base', baseBuild.resources, { secretsProvided: false });
}
const overlaysDir = path.join(K8S, 'overlays');
const overlays = existsSync(overlaysDir)
  ? readdirSync(overlaysDir).filter((d) => KUSTOMIZATION_FILES.some((f) => existsSync(path.join(overlaysDir, d, f))))
  : [];
expect(overlays.length > 0, 'infra/k8s/overlays: no overlay');
for (const o of overlays) {
  const where = `infra/k8s/overlays/${o}`;
  const b = build(path.join(overlaysDir, o));
  if (!b) continue;
  report.push(`${where}: ${b.resources.length} objects (${b.tool})`);
  checkOverlay(where, checkManifests(where, b.resources, { secretsProvided: true }));
}
checkCompose();
checkDockerfile();

console.log('infra check: what the services need (from services/*/src/config.ts):');
for (const s of SERVICES) console.log(`  - ${s.name}: port ${s.port}${s.schema ? `, schema ${s.schema}` : ''}; requires ${s.required.join(', ')}`);
for (const line of [...report, ...notes]) console.log(`  - ${line}`);
if (problems.length) {
  console.error(`\n${problems.length} problem(s):`);
  for (const p of problems) console.error(`  x ${p}`);
}
console.log(`infra/k8s/check.mjs: ${passed} assertions held, ${problems.length} problem(s)`);
process.exitCode = problems.length ? 1 : 0;
