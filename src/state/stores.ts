/**
 * What the handlers need from the job, region and feature tables. Two implementations: the DynamoDB tables
 * (`tessera serve`, shared by every container) and the in-process stand-ins of memory-stores.ts (`tessera run`),
 * so one set of handlers serves both modes.
 */
import type { JobTable } from './job-table.js';
import type { RegionTable } from './region-table.js';
import type { FeatureTable } from './feature-table.js';

export type JobStore = Pick<JobTable, 'tableName' | 'claimJobId' | 'start' | 'get' | 'update' | 'completeRegion' | 'claimAggregation' | 'releaseAggregation' | 'updateUnderLease' | 'end'>;
export type RegionStore = Pick<RegionTable, 'tableName' | 'start' | 'get' | 'succeededTileIds' | 'recordTiles' | 'complete' | 'fail' | 'markStatusPublished'>;
export type FeatureStore = Pick<FeatureTable, 'tableName' | 'writeTileFeatures' | 'featuresOfImage' | 'itemsOfImage'>;
