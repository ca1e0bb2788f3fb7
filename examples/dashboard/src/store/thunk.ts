/** Typed `createAsyncThunk` with the REST client as the thunk's extra argument. */
import { createAsyncThunk } from '@reduxjs/toolkit';
import { ApiError, type ApiClient } from '../api/client';

export interface ThunkExtra {
  api: ApiClient;
  /** Hands a downloaded file to the user (default: the browser's download, `saveBlob`). */
  saveFile?: (blob: Blob, fileName: string) => void;
}

export const createAppThunk = createAsyncThunk.withTypes<{
  extra: ThunkExtra;
  rejectValue: string;
}>();

/** The message shown to operators for a failed request. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
