import type { RealtimeState } from '@glavito/client';
import { createContext, type Ctx } from './context.js';
import { h, replace } from './dom.js';
import { renderConnections } from './pages/connections.js';
import { renderSignIn } from './pages/sign-in.js';
import { renderStatistics } from './pages/statistics.js';
import { renderWizard } from './pages/wizard.js';
import { clearToken, setApiBase, storedToken, storeToken, takeFragmentToken } from './settings.js';

/** A page draws into its container and returns what to undo when the user leaves it. */
export type Page = (ctx: Ctx, container: HTMLElement) => () => void;

const PAGES: Record<string, { title: string; page: Page; adminOnly?: boolean }> = {
  wizard: { title: 'Onboarding', page: renderWizard },
  connections: { title: 'Connection tests', page: renderConnections },
  statistics: { title: 'Statistics', page: renderStatistics, adminOnly: true },
};

const root = document.getElementById('app')!;
let ctx: Ctx | null = null;
let leavePage: (() => void) | null = null;
let stopIndicator: (() => void) | null = null;

function signOut(): void {
  clearToken();
  ctx?.close();
  ctx = null;
  navigate('sign-in');
}

function navigate(name: string): void {
  const target = `#/${name}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function signIn(token: string): boolean {
  const next = createContext(token);
  if (!next) return false;
  ctx?.close();
  ctx = next;
  storeToken(token);
  return true;
}

const STATE_LABEL: Record<RealtimeState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  unauthorized: 'Token refused',
  closed: 'Offline',
};

function shell(current: Ctx, active: string): HTMLElement {
  const indicator = h('span', { class: 'ws-state', testid: 'ws-state', role: 'status', 'aria-live': 'polite' });
  const show = (s: RealtimeState) => {
    indicator.dataset.state = s;
    indicator.textContent = STATE_LABEL[s];
  };
  show(current.liveState());
  stopIndicator?.();
  stopIndicator = current.onLiveState(show);
  const links = Object.entries(PAGES)
    .filter(([, p]) => !p.adminOnly || current.isAdmin)
    .map(([key, p]) => h('a', { href: `#/${key}`, testid: `nav-${key}`, 'aria-current': key === active ? 'page' : undefined }, p.title));
  return h(
    'header',
    { class: 'top' },
    h('strong', { class: 'brand' }, 'Glavito console'),
    h('nav', { 'aria-label': 'Pages' }, ...links),
    h('span', { class: 'spacer' }),
    indicator,
    h('span', { class: 'who', testid: 'who' }, `${current.claims.sub} · ${current.claims.tenantId} · ${current.claims.roles.join(', ') || 'no role'}`),
    h('button', { type: 'button', class: 'link', testid: 'sign-out', onclick: signOut }, 'Sign out'),
  );
}

function route(): void {
  leavePage?.();
  leavePage = null;
  const fragment = takeFragmentToken();
  if (fragment) {
    if (fragment.api !== undefined) setApiBase(fragment.api);
    signIn(fragment.token);
  }
  if (!ctx) {
    const saved = storedToken();
    if (saved && !signIn(saved)) clearToken();
  }
  const name = location.hash.replace(/^#\/?/, '').split('?')[0] || 'wizard';
  if (!ctx || name === 'sign-in') {
    stopIndicator?.();
    stopIndicator = null;
    const submit = (token: string) => {
      if (!signIn(token)) return false;
      navigate('wizard');
      return true;
    };
    replace(root, renderSignIn({ signIn: submit }));
    return;
  }
  const entry = PAGES[name] && (!PAGES[name].adminOnly || ctx.isAdmin) ? PAGES[name] : PAGES.wizard!;
  const key = PAGES[name] === entry ? name : 'wizard';
  const main = h('main', { id: 'main', testid: `page-${key}` });
  replace(root, shell(ctx, key), main);
  document.title = `${entry.title} · Glavito console`;
  leavePage = entry.page(ctx, main);
}

window.addEventListener('hashchange', route);
route();
