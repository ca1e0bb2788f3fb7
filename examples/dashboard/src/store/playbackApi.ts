/**
 * RTK Query endpoints of trip playback: the readings and the alerts of the played window.
 * They go through the store's {@link ApiClient} (the thunks' extra argument), so the token and
 * the "session refused" handling are the same as everywhere else; an error is the message shown.
 */
import { createApi, fakeBaseQuery } from '@reduxjs/toolkit/query/react';
import { fetchTripAlerts, fetchTripSamples, type TripAlerts, type TripSamples } from './tripSeries';
import { errorMessage, type ThunkExtra } from './thunk';

/** A played window: the vehicle and the path's `from`/`to` as the server returned them. */
export interface TripWindow {
  vehicleId: string;
  from: string;
  to: string;
}

export const playbackApi = createApi({
  reducerPath: 'playbackApi',
  baseQuery: fakeBaseQuery<string>(),
  // A window's readings never change (it ends at the moment it was loaded); a closed playback
  // keeps them a minute for a reopen, then lets them go.
  keepUnusedDataFor: 60,
  endpoints: (build) => ({
    tripSamples: build.query<TripSamples, TripWindow>({
      queryFn: async ({ vehicleId, from, to }, { extra }) => {
        try {
          return { data: await fetchTripSamples((extra as ThunkExtra).api, vehicleId, { from, to }) };
        } catch (e) {
          return { error: errorMessage(e) };
        }
      },
    }),
    tripAlerts: build.query<TripAlerts, TripWindow>({
      queryFn: async ({ vehicleId, from, to }, { extra }) => {
        try {
          return { data: await fetchTripAlerts((extra as ThunkExtra).api, vehicleId, { from, to }) };
        } catch (e) {
          return { error: errorMessage(e) };
        }
      },
    }),
  }),
});

export const { useTripSamplesQuery, useTripAlertsQuery } = playbackApi;
