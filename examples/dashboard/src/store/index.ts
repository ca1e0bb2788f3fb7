/**
 * The Redux store: slices plus the REST client as the thunks' extra argument (and the RTK Query
 * endpoints' too).
 */
import { combineReducers, configureStore, type Middleware } from '@reduxjs/toolkit';
import { useDispatch, useSelector, useStore } from 'react-redux';
import type { ApiClient } from '../api/client';
import auth, { loggedOut, SESSION_REFUSED_MESSAGE } from './authSlice';
import fleet from './fleetSlice';
import alerts from './alertsSlice';
import commands from './commandsSlice';
import missions from './missionsSlice';
import analytics from './analyticsSlice';
import ui from './uiSlice';
import capabilities from './capabilitiesSlice';
import playback from './playbackSlice';
import timeTravel from './timeTravelSlice';
import { playbackApi } from './playbackApi';
import { reportsApi } from './reportsApi';
import reports from './reportsSlice';
import { auditApi } from './auditApi';
import audit from './auditSlice';
import { fleetsApi } from './fleetsApi';
import exportReducer, { cancelAllExports } from './exportSlice';
import type { ThunkExtra } from './thunk';

const appReducer = combineReducers({
  auth,
  fleet,
  alerts,
  commands,
  missions,
  analytics,
  ui,
  capabilities,
  playback,
  timeTravel,
  export: exportReducer,
  reports,
  audit,
  [playbackApi.reducerPath]: playbackApi.reducer,
  [reportsApi.reducerPath]: reportsApi.reducer,
  [auditApi.reducerPath]: auditApi.reducer,
  [fleetsApi.reducerPath]: fleetsApi.reducer,
});
export type RootState = ReturnType<typeof appReducer>;

/** Logging out forgets everything about the fleet, not only the token. */
const rootReducer: typeof appReducer = (state, action) =>
  appReducer(loggedOut.match(action) ? undefined : state, action);

/**
 * Logging out also drops RTK Query's subscriptions and running queries, not only its cache,
 * and stops a running export.
 */
const resetQueriesOnLogout: Middleware = (api) => (next) => (action) => {
  const result = next(action);
  if (loggedOut.match(action)) {
    api.dispatch(playbackApi.util.resetApiState());
    api.dispatch(reportsApi.util.resetApiState());
    api.dispatch(auditApi.util.resetApiState());
    api.dispatch(fleetsApi.util.resetApiState());
    cancelAllExports();
  }
  return result;
};

/**
 * The store, with `api` as the thunks' client; a token the server refuses ends the session.
 * `extra` replaces the thunks' other collaborators (tests: where downloaded files go).
 */
export function createStore(
  api: ApiClient,
  preloadedState?: Partial<RootState>,
  extra: Omit<ThunkExtra, 'api'> = {},
) {
  const store = configureStore({
    reducer: rootReducer,
    preloadedState: preloadedState as RootState | undefined,
    middleware: (getDefault) =>
      getDefault({
        thunk: { extraArgument: { ...extra, api } satisfies ThunkExtra },
        // The vehicles record holds up to a whole fleet; walking it on every action (the dev
        // checks) would cost more than the update itself.
        immutableCheck: false,
        serializableCheck: false,
      }).concat(
        playbackApi.middleware,
        reportsApi.middleware,
        auditApi.middleware,
        fleetsApi.middleware,
        resetQueriesOnLogout,
      ),
  });
  // Any REST call answered 401 (other than a login) goes back to the login page, saying why.
  api.setUnauthorizedHandler(() => store.dispatch(loggedOut(SESSION_REFUSED_MESSAGE)));
  return store;
}

export type AppStore = ReturnType<typeof createStore>;
export type AppDispatch = AppStore['dispatch'];
export const useAppDispatch = useDispatch.withTypes<AppDispatch>();
export const useAppSelector = useSelector.withTypes<RootState>();
export const useAppStore = useStore.withTypes<AppStore>();
