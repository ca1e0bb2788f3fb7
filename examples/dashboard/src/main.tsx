/** Entry point: loads the runtime config, restores the session and the URL's place, mounts the app. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Provider } from 'react-redux';
import { ApiClient } from './api/client';
import { loadConfig, wsOrigin } from './config';
import { createStore } from './store';
import { initialAuthState, type AuthState } from './store/authSlice';
import { App } from './App';
import { preloadFromUrl, syncUrl } from './urlState';
import './styles.css';

const SESSION_KEY = 'vehicleops.session';

function restoreSession(): AuthState | undefined {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as AuthState | null;
    if (saved?.token && saved.expiresAt && saved.expiresAt > Date.now()) {
      return { ...initialAuthState, token: saved.token, operator: saved.operator, expiresAt: saved.expiresAt };
    }
  } catch {
    // A corrupt entry means logging in again.
  }
  return undefined;
}

async function main() {
  const config = await loadConfig();
  const api = new ApiClient(config.apiUrl.replace(/\/$/, ''));
  const auth = restoreSession();
  api.setToken(auth?.token ?? null);
  // The view, fleet and report the URL names (a reload keeps them), then the URL follows.
  const store = createStore(api, { ...preloadFromUrl(window.location.hash, Date.now()), ...(auth ? { auth } : {}) });
  syncUrl(store);

  // Keep the client's token and the saved session in step with the store.
  let token = auth?.token ?? null;
  store.subscribe(() => {
    const s = store.getState().auth;
    if (s.token === token) return;
    token = s.token;
    api.setToken(token);
    if (token) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else sessionStorage.removeItem(SESSION_KEY);
  });

  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <Provider store={store}>
        <App config={config} wsBase={wsOrigin(config, window.location)} />
      </Provider>
    </StrictMode>,
  );
}

void main();
