/**
 * RTK Query endpoint of the audit trail (`GET /audit`), through the store's {@link ApiClient}
 * like the reports (the token, a refused session). An infinite query: one cache entry per
 * filter holding the pages read so far, the next asked for with the last one's `next_cursor`
 * ("Load older"). Every page is tagged `Audit`: Refresh reads the loaded pages again.
 */
import { createApi, fakeBaseQuery } from '@reduxjs/toolkit/query/react';
import type { AuditPage } from '../types';
import { auditQuery, type AuditFilter } from './audit';
import { requestFailure, type RequestFailure, type ThunkExtra } from './thunk';

export const auditApi = createApi({
  reducerPath: 'auditApi',
  baseQuery: fakeBaseQuery<RequestFailure>(),
  tagTypes: ['Audit'],
  // The trail grows with every login and command: a list left half a minute is read again.
  keepUnusedDataFor: 30,
  endpoints: (build) => ({
    auditLog: build.infiniteQuery<AuditPage, AuditFilter, string>({
      infiniteQueryOptions: {
        // '' is the first page (no cursor).
        initialPageParam: '',
        getNextPageParam: (lastPage) => lastPage.next_cursor ?? undefined,
      },
      queryFn: async ({ queryArg, pageParam }, { extra }) => {
        try {
          return { data: await (extra as ThunkExtra).api.audit(auditQuery(queryArg, pageParam || null)) };
        } catch (e) {
          return { error: requestFailure(e) };
        }
      },
      providesTags: ['Audit'],
    }),
  }),
});

export const { useAuditLogInfiniteQuery } = auditApi;

/** Reads the trail again (the pages on screen at once, from the newest). */
export const refreshAudit = () => auditApi.util.invalidateTags(['Audit']);
