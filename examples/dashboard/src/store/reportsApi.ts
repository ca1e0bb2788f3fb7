/**
 * RTK Query endpoint of the daily report (`GET /reports/fleet/{id}`), through the store's
 * {@link ApiClient} like the playback endpoints (the token, a refused session). A failure is the
 * server's `detail` with its status and the field it names. Each report is tagged with its
 * fleet: Refresh invalidates the fleet's reports, so today's figures are read again.
 */
import type { SerializedError } from '@reduxjs/toolkit';
import { createApi, fakeBaseQuery } from '@reduxjs/toolkit/query/react';
import type { DailyReportRequest } from '../api/client';
import type { FleetDailyReport } from '../types';
import { requestFailure, type RequestFailure, type ThunkExtra } from './thunk';

export const reportsApi = createApi({
  reducerPath: 'reportsApi',
  baseQuery: fakeBaseQuery<RequestFailure>(),
  tagTypes: ['FleetReport'],
  // Today's figures grow as readings come in: a report left a minute is read again.
  keepUnusedDataFor: 60,
  endpoints: (build) => ({
    fleetDailyReport: build.query<FleetDailyReport, DailyReportRequest>({
      queryFn: async (req, { extra }) => {
        try {
          return { data: await (extra as ThunkExtra).api.fleetDailyReport(req) };
        } catch (e) {
          return { error: requestFailure(e) };
        }
      },
      providesTags: (_result, _error, req) => [{ type: 'FleetReport', id: req.fleetId }],
    }),
  }),
});

export const { useFleetDailyReportQuery } = reportsApi;

/** Reads the fleet's reports again (those on screen at once, the others when next shown). */
export const refreshFleetReports = (fleetId: string) =>
  reportsApi.util.invalidateTags([{ type: 'FleetReport', id: fleetId }]);

/** A query's error as shown: the endpoint's failure, or what an unexpected throw said. */
export function failureOf(error: RequestFailure | SerializedError): RequestFailure {
  if ('field' in error && typeof error.status === 'number') return error;
  return { message: error.message ?? 'The report failed.', status: 0, field: null };
}
