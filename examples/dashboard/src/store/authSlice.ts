/** Login state: the bearer token used for REST and the WebSocket, and who is logged in. */
import { createSlice } from '@reduxjs/toolkit';
import type { Operator } from '../types';
import { createAppThunk, errorMessage } from './thunk';

export interface AuthState {
  token: string | null;
  operator: Operator | null;
  /** Epoch ms after which the token is no longer accepted. */
  expiresAt: number | null;
  status: 'idle' | 'pending' | 'failed';
  error: string | null;
}

export const initialAuthState: AuthState = {
  token: null,
  operator: null,
  expiresAt: null,
  status: 'idle',
  error: null,
};

/**
 * Shown on the login page when the server refuses a token it issued: after a restart with
 * another key (a demo server keeps its key across restarts, see docs/operations.md), or once an
 * administrator revoked it.
 */
export const SESSION_REFUSED_MESSAGE =
  'The server no longer accepts this session (it may have restarted with a new key): please log in again.';

export const login = createAppThunk(
  'auth/login',
  async (creds: { email: string; password: string }, { extra, rejectWithValue }) => {
    try {
      const res = await extra.api.login(creds.email, creds.password);
      extra.api.setToken(res.access_token);
      return { ...res, receivedAt: Date.now() };
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

const authSlice = createSlice({
  name: 'auth',
  initialState: initialAuthState,
  reducers: {
    loggedOut: (_state, action: { payload: string | undefined }) => ({
      ...initialAuthState,
      error: action.payload ?? null,
    }),
  },
  extraReducers: (b) => {
    b.addCase(login.pending, (s) => {
      s.status = 'pending';
      s.error = null;
    })
      .addCase(login.fulfilled, (s, a) => {
        s.status = 'idle';
        s.token = a.payload.access_token;
        s.operator = a.payload.operator;
        s.expiresAt = a.payload.receivedAt + a.payload.expires_in * 1000;
      })
      .addCase(login.rejected, (s, a) => {
        s.status = 'failed';
        s.token = null;
        s.error = a.payload ?? a.error.message ?? 'Login failed';
      });
  },
});

export const { loggedOut } = authSlice.actions;
export default authSlice.reducer;
