/** The OSML test models as a local HTTP endpoint. */
export { DEFAULT_MAX_BODY_BYTES, startModelServer } from './server.js';
export type { ModelServer, ModelServerLogger, ModelServerOptions } from './server.js';
export { SUPPORTED_MODEL_NAMES } from './models/model.js';
export type { ModelName, ModelParams, ModelResponse, TestModel, TileInfo } from './models/model.js';
export { findTestModel } from './models/registry.js';
