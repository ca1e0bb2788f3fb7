/**
 * Exports (`GET /export/{kind}`): one download at a time, through the store's
 * {@link ApiClient} (so with the token, and a refused token ends the session like anywhere
 * else). The file is read whole into a Blob, the bytes received shown as they arrive, then
 * handed to the browser under the name the server suggested. Only the name, the size and the
 * outcome are kept in the store, never the file.
 */
import { createAsyncThunk, createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { ExportRequest } from '../api/client';
import { saveBlob } from '../api/saveBlob';
import { requestFailure, type RequestFailure, type ThunkExtra } from './thunk';

export type ExportError = RequestFailure;

export interface ExportState {
  status: 'idle' | 'downloading' | 'done' | 'error' | 'cancelled';
  requestId: string | null;
  /** What is (or was last) downloaded. */
  request: ExportRequest | null;
  /** Bytes received so far; the file's size once done. */
  bytes: number;
  fileName: string | null;
  error: ExportError | null;
}

export const initialExportState: ExportState = {
  status: 'idle',
  requestId: null,
  request: null,
  bytes: 0,
  fileName: null,
  error: null,
};

/** How often the bytes received are reported to the store while a file streams in. */
export const PROGRESS_EVERY_MS = 200;

const createExportThunk = createAsyncThunk.withTypes<{
  extra: ThunkExtra;
  rejectValue: ExportError;
  state: { export: ExportState };
}>();

/** Aborts of the downloads running, by request id. */
const running = new Map<string, () => void>();

export const downloadExport = createExportThunk(
  'export/download',
  async (req: ExportRequest, { extra, signal, requestId, dispatch, getState, rejectWithValue }) => {
    // At most one progress report per PROGRESS_EVERY_MS, the last one of a burst included.
    let reported = 0;
    let latest = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const report = () => {
      timer = null;
      reported = Date.now();
      dispatch(exportProgress({ requestId, bytes: latest }));
    };
    try {
      const file = await extra.api
        .exportFile(req, {
          signal,
          onProgress: (bytes) => {
            latest = bytes;
            if (timer !== null) return;
            const wait = PROGRESS_EVERY_MS - (Date.now() - reported);
            if (wait <= 0) report();
            else timer = setTimeout(report, wait);
          },
        })
        .finally(() => {
          if (timer !== null) clearTimeout(timer);
        });
      // A download the store has forgotten meanwhile (a logout) is not saved.
      if (getState().export.requestId !== requestId) {
        return rejectWithValue({ message: 'The download was dropped.', status: 0, field: null });
      }
      (extra.saveFile ?? saveBlob)(file.blob, file.fileName);
      return { fileName: file.fileName, bytes: file.blob.size };
    } catch (e) {
      if (signal.aborted) throw e;
      return rejectWithValue(requestFailure(e));
    }
  },
  { condition: (_req, { getState }) => getState().export.status !== 'downloading' },
);

/** Starts a download (unless one is running); {@link cancelExport} stops it. */
export const startExport = (req: ExportRequest) => (dispatch: (a: unknown) => unknown) => {
  const promise = dispatch(downloadExport(req)) as ReturnType<ReturnType<typeof downloadExport>>;
  running.set(promise.requestId, () => promise.abort('Cancelled'));
  void promise.finally(() => running.delete(promise.requestId));
  return promise;
};

/** Stops the download `requestId` if it is still running. */
export function cancelExport(requestId: string | null): void {
  if (requestId) running.get(requestId)?.();
}

/** Stops every running download (on logout). */
export function cancelAllExports(): void {
  for (const abort of [...running.values()]) abort();
}

const exportSlice = createSlice({
  name: 'export',
  initialState: initialExportState,
  reducers: {
    exportProgress: (s, a: PayloadAction<{ requestId: string; bytes: number }>) => {
      if (s.requestId === a.payload.requestId && s.status === 'downloading') {
        s.bytes = Math.max(s.bytes, a.payload.bytes);
      }
    },
    exportDismissed: () => initialExportState,
  },
  extraReducers: (b) => {
    b.addCase(downloadExport.pending, (_s, a) => ({
      ...initialExportState,
      status: 'downloading',
      requestId: a.meta.requestId,
      request: a.meta.arg,
    }))
      .addCase(downloadExport.fulfilled, (s, a) => {
        if (s.requestId !== a.meta.requestId) return;
        s.status = 'done';
        s.bytes = a.payload.bytes;
        s.fileName = a.payload.fileName;
      })
      .addCase(downloadExport.rejected, (s, a) => {
        if (s.requestId !== a.meta.requestId) return;
        if (a.meta.aborted) {
          s.status = 'cancelled';
          return;
        }
        s.status = 'error';
        s.error = a.payload ?? { message: a.error.message ?? 'The export failed.', status: 0, field: null };
      });
  },
});

export const { exportProgress, exportDismissed } = exportSlice.actions;
export default exportSlice.reducer;
