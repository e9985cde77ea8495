// Copyright 2026 The fer_ros Authors
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// face-api.js's own expression model on 112x112 RGB faces, through tfjs's
// WebAssembly backend (no native download): the reference that
// fer_models.research.faceapi_teacher's PyTorch conversion is checked against.
//
// Usage: node faceapi_expressions.js FACES.u8 COUNT OUT.f32
//   FACES.u8: COUNT x 112 x 112 x 3 uint8 RGB, row-major
//   OUT.f32:  COUNT x 7 float32 little-endian probabilities in face-api's
//             order (neutral, happy, sad, angry, fearful, disgusted, surprised)
'use strict';

const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const SIZE = 112;

async function main() {
  const [facesPath, countText, outPath] = process.argv.slice(2);
  const count = Number(countText);
  const faces = fs.readFileSync(facesPath);
  if (!Number.isInteger(count) || faces.length !== count * SIZE * SIZE * 3) {
    throw new Error(`${facesPath} holds ${faces.length} bytes, not ${count} faces of ${SIZE}x${SIZE}x3`);
  }
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  const out = new Float32Array(count * 7);
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) {
    const pixels = new Int32Array(faces.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3));
    const input = faceapi.tf.tensor3d(pixels, [SIZE, SIZE, 3], 'int32');
    const expressions = await faceapi.nets.faceExpressionNet.predictExpressions(input);
    input.dispose();
    faceapi.FACE_EXPRESSION_LABELS.forEach((label, j) => { out[i * 7 + j] = expressions[label]; });
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6 / Math.max(count, 1);
  fs.writeFileSync(outPath, Buffer.from(out.buffer));
  console.log(JSON.stringify({ faces: count, ms_per_face: ms, backend: faceapi.tf.getBackend(),
                               labels: faceapi.FACE_EXPRESSION_LABELS, version: faceapi.version }));
}

main().catch((error) => { console.error(`faceapi_expressions: ${error.message}`); process.exit(2); });
