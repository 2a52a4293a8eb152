// The engine package: running models behind one `Engine` interface. Importing it does not load
// onnxruntime's native library in this process; only the engine's worker processes do.
export * from './detectCpuIsa.ts'
export * from './engine.ts'
export * from './onnx/createOnnxEngine.ts'
export * from './onnx/onnxEngineDescriptor.ts'
export * from './onnx/onnxEngineOptions.ts'
export * from './onnx/supportedOnnxOperators.ts'
export * from './shapeCheck.ts'
export * from './validateInputs.ts'
export * from './validateOutputs.ts'
