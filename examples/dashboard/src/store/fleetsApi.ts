/**
 * RTK Query endpoint of the fleets the operator may see (`GET /fleets`: every fleet for an
 * ADMIN, whose login lists none), the dashboard's fleet choices. Tagged `Fleets`; a logout
 * drops it, so the next operator's are read.
 */
import { createApi, fakeBaseQuery } from '@reduxjs/toolkit/query/react';
import type { FleetInfo } from '../types';
import { requestFailure, type RequestFailure, type ThunkExtra } from './thunk';

export const fleetsApi = createApi({
  reducerPath: 'fleetsApi',
  baseQuery: fakeBaseQuery<RequestFailure>(),
  tagTypes: ['Fleets'],
  endpoints: (build) => ({
    fleets: build.query<FleetInfo[], void>({
      queryFn: async (_arg, { extra }) => {
        try {
          return { data: await (extra as ThunkExtra).api.fleets() };
        } catch (e) {
          return { error: requestFailure(e) };
        }
      },
      providesTags: ['Fleets'],
    }),
  }),
});

export const { useFleetsQuery } = fleetsApi;
