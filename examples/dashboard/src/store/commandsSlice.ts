/**
 * Vehicle commands and their lifecycle (DISPATCHED → DELIVERED → EXECUTED | FAILED | TIMEOUT |
 * EXPIRED) as the server reports it, over the WebSocket and by polling the command history.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { Command, CommandKind, CommandStatus, Waypoint } from '../types';
import { createAppThunk, errorMessage } from './thunk';

export interface TrackedCommand {
  /** Server id, or a local key until the server answered. */
  key: string;
  id: string | null;
  vehicleId: string;
  command: CommandKind;
  /** Every status seen, in order, without repeats. */
  steps: CommandStatus[];
  error: string | null;
  issuedAt: number;
}

export interface CommandsState {
  byKey: Record<string, TrackedCommand>;
  /** The most recent command per vehicle. */
  latestByVehicle: Record<string, string>;
  /**
   * Lifecycle steps of commands not (yet) tracked: a frame can beat the HTTP response of the
   * command it belongs to. Bounded; oldest dropped first.
   */
  unclaimed: Record<string, CommandStatus[]>;
}

export const initialCommandsState: CommandsState = { byKey: {}, latestByVehicle: {}, unclaimed: {} };
const MAX_UNCLAIMED = 100;

const TERMINAL: ReadonlySet<CommandStatus> = new Set(['EXECUTED', 'FAILED', 'TIMEOUT', 'EXPIRED']);
const RANK: Record<CommandStatus, number> = {
  DISPATCHED: 0,
  DELIVERED: 1,
  EXECUTED: 2,
  FAILED: 2,
  TIMEOUT: 2,
  EXPIRED: 2,
};

export function isTerminal(status: CommandStatus): boolean {
  return TERMINAL.has(status);
}

export const dispatchCommand = createAppThunk(
  'commands/dispatch',
  async (
    arg: { vehicleId: string; command: CommandKind; waypoints?: Waypoint[] },
    { extra, rejectWithValue },
  ) => {
    try {
      return await extra.api.dispatchCommand(arg.vehicleId, arg.command, arg.waypoints ?? []);
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/** Polls the vehicle's history: a fallback when lifecycle frames were missed (reconnect). */
export const refreshCommandHistory = createAppThunk(
  'commands/history',
  async (vehicleId: string, { extra, rejectWithValue }) => {
    try {
      return (await extra.api.commandHistory(vehicleId, 10)).data;
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/** Appends a status; never goes back (a late DELIVERED after EXECUTED is ignored). */
function advance(t: TrackedCommand, status: CommandStatus): void {
  const last = t.steps[t.steps.length - 1];
  if (last === status) return;
  if (last !== undefined && (isTerminal(last) || RANK[status] < RANK[last])) return;
  t.steps.push(status);
}

function applyServerCommand(s: CommandsState, c: Command): void {
  if (!c.id) return;
  const t = s.byKey[c.id];
  if (t) {
    advance(t, c.status);
    return;
  }
  const steps = (s.unclaimed[c.id] ??= []);
  if (!steps.includes(c.status)) steps.push(c.status);
  const ids = Object.keys(s.unclaimed);
  if (ids.length > MAX_UNCLAIMED) delete s.unclaimed[ids[0]!];
}

const commandsSlice = createSlice({
  name: 'commands',
  initialState: initialCommandsState,
  reducers: {
    commandUpdated: (s, a: PayloadAction<Command>) => applyServerCommand(s, a.payload),
  },
  extraReducers: (b) => {
    b.addCase(dispatchCommand.pending, (s, a) => {
      const key = a.meta.requestId;
      s.byKey[key] = {
        key,
        id: null,
        vehicleId: a.meta.arg.vehicleId,
        command: a.meta.arg.command,
        steps: [],
        error: null,
        issuedAt: Date.now(),
      };
      s.latestByVehicle[a.meta.arg.vehicleId] = key;
    })
      .addCase(dispatchCommand.fulfilled, (s, a) => {
        const pending = s.byKey[a.meta.requestId];
        if (!pending) return;
        delete s.byKey[a.meta.requestId];
        const key = a.payload.id ?? a.meta.requestId;
        // A lifecycle frame may have beaten the HTTP response; keep what it brought.
        const tracked: TrackedCommand = s.byKey[key] ?? { ...pending, key, id: a.payload.id ?? null };
        advance(tracked, 'DISPATCHED');
        advance(tracked, a.payload.status);
        if (a.payload.id) {
          for (const step of s.unclaimed[a.payload.id] ?? []) advance(tracked, step);
          delete s.unclaimed[a.payload.id];
        }
        s.byKey[key] = tracked;
        s.latestByVehicle[pending.vehicleId] = key;
      })
      .addCase(dispatchCommand.rejected, (s, a) => {
        const t = s.byKey[a.meta.requestId];
        if (t) t.error = a.payload ?? 'Command refused';
      })
      .addCase(refreshCommandHistory.fulfilled, (s, a) => {
        for (const c of a.payload) applyServerCommand(s, c);
      });
  },
});

export const { commandUpdated } = commandsSlice.actions;
export default commandsSlice.reducer;

export const selectLatestCommand = (
  s: { commands: CommandsState },
  vehicleId: string | null,
): TrackedCommand | null => {
  if (!vehicleId) return null;
  const key = s.commands.latestByVehicle[vehicleId];
  return key ? (s.commands.byKey[key] ?? null) : null;
};
