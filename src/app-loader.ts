import { pathToFileURL } from 'node:url';
import { HOOKS, type App } from './app.js';
import { ErrorCode, ShardlineError } from './errors.js';

function appError(path: string, rule: string): ShardlineError {
  return new ShardlineError(ErrorCode.APP_INVALID, `app module ${path}: ${rule}`);
}

/** Checks the shape of an app object: a plain object whose known keys are functions. */
export function validateApp(app: unknown, path: string): App {
  if (app === null || typeof app !== 'object' || Array.isArray(app)) {
    throw appError(path, 'the default export must be an object of hooks (use defineApp({...}))');
  }
  for (const [key, value] of Object.entries(app)) {
    if (!(HOOKS as readonly string[]).includes(key)) {
      throw appError(path, `unknown hook '${key}' (hooks: ${HOOKS.join(', ')})`);
    }
    if (typeof value !== 'function') throw appError(path, `hook '${key}' must be a function`);
  }
  return app as App;
}

/** Imports an app module by absolute path; throws APP_INVALID naming the path. */
export async function loadApp(path: string | null): Promise<App> {
  if (path === null) return (await import('./default-app.js')).default;
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    const first = String(err instanceof Error ? `${err.name}: ${err.message}` : err).split('\n')[0];
    throw appError(path, `failed to load: ${first}`);
  }
  if (!('default' in mod) || mod.default === undefined) throw appError(path, 'has no default export');
  return validateApp(mod.default, path);
}
