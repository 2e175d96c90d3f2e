/** The test models by name, as the unified OSML test container selects them. */
import { centerpointModel } from './centerpoint.js';
import { failureModel } from './failure.js';
import { floodModel } from './flood.js';
import { SUPPORTED_MODEL_NAMES, textResponse, type ModelName, type ModelResponse, type TestModel } from './model.js';

const MODELS: Record<ModelName, TestModel> = {
  centerpoint: centerpointModel,
  flood: floodModel,
  failure: failureModel,
};

export function findTestModel(name: string): TestModel | undefined {
  return (SUPPORTED_MODEL_NAMES as readonly string[]).includes(name) ? MODELS[name as ModelName] : undefined;
}

/** OSML's answer when the selection is missing or unknown. */
export const INVALID_MODEL_SELECTION_RESPONSE: ModelResponse = textResponse(
  400,
  `Invalid or missing model selection. Supported values: ${SUPPORTED_MODEL_NAMES.join(', ')}`,
);
