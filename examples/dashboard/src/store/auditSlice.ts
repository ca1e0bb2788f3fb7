/**
 * The Audit view's filter: what the trail was last asked for. It is what the page's URL keeps
 * (see `urlState`), so a reload lists the same entries.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import { DEFAULT_AUDIT_FILTER, type AuditFilter } from './audit';

export interface AuditState {
  filter: AuditFilter;
}

export const initialAuditState: AuditState = { filter: DEFAULT_AUDIT_FILTER };

const auditSlice = createSlice({
  name: 'audit',
  initialState: initialAuditState,
  reducers: {
    auditFilterApplied: (s, a: PayloadAction<AuditFilter>) => {
      s.filter = a.payload;
    },
  },
});

export const { auditFilterApplied } = auditSlice.actions;
export default auditSlice.reducer;
