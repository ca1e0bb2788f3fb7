/** Typed `createAsyncThunk` with the REST client as the thunk's extra argument. */
import { createAsyncThunk, type SerializedError } from '@reduxjs/toolkit';
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

/** A failed request as the forms show it: the message, the HTTP status and the field named. */
export interface RequestFailure {
  message: string;
  /** HTTP status, 0 when the server could not be reached or broke the transfer off. */
  status: number;
  /** The request field the server named (`from`, `vehicle_id`, …), if any. */
  field: string | null;
}

export function requestFailure(e: unknown): RequestFailure {
  if (e instanceof ApiError) return { message: e.message, status: e.status, field: e.field };
  return { message: errorMessage(e), status: 0, field: null };
}

/** An RTK Query error as shown: the endpoint's failure, or what an unexpected throw said. */
export function queryFailure(error: RequestFailure | SerializedError, fallback: string): RequestFailure {
  if ('field' in error && typeof error.status === 'number') return error;
  return { message: error.message ?? fallback, status: 0, field: null };
}
