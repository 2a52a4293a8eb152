// The engine package: running models behind one `Engine` interface (ONNX) and one `TextEngine`
// interface (GGUF LLMs). Importing it loads neither onnxruntime's nor llama.cpp's native library
// in this process; only the engines' worker processes do.
export * from './detectCpuIsa.ts'
export * from './engine.ts'
export * from './gguf/createGgufEngine.ts'
export * from './gguf/ggufEngineDescriptor.ts'
export * from './gguf/ggufEngineOptions.ts'
export * from './gguf/resolveSampling.ts'
export * from './gguf/textEngine.ts'
export * from './onnx/createOnnxEngine.ts'
export * from './onnx/onnxEngineDescriptor.ts'
export * from './onnx/onnxEngineOptions.ts'
export * from './onnx/supportedOnnxOperators.ts'
export * from './shapeCheck.ts'
export * from './validateInputs.ts'
export * from './validateOutputs.ts'
