// Front-end presets of the pretrained models in ../shared/models (MODELS.md §4.1, §5.1, §6.1).
// Each returns a FrontendConfig for LogMelFrontend::make(); the model-specific padding/patching
// that follows the log-mel is in patcher.h. Plain functions, thread-safe.
#pragma once

#include "features/frontend_config.h"

namespace earshot {

// YAMNet (16 kHz): frames x[160t, 160t+400), periodic Hann 400 at the start of a 512 FFT,
// magnitude, 64 HTK bands 125-7500 Hz with mel-domain triangles (TF), ln(mel + 0.001).
// Pad the waveform with yamnet_padded_length() first (patcher.h).
FrontendConfig yamnet_frontend_config();

// EfficientAT mn04_as (32 kHz): pre-emphasis 0.97, reflect pad 512, symmetric Hann 800 centred
// in 1024, hop 320, power, 128 Kaldi triangles 0-15000 Hz, (ln(mel + 1e-5) + 4.5) / 5.
// Output [T][128]; the model wants it transposed to [1,1,128,T]. REQUIRES >= 514 samples.
FrontendConfig mn04_frontend_config();

// musicnn (16 kHz, MSD and MTT): reflect pad 256, periodic Hann 512, hop 256, power, 96 Slaney
// bands 0-8000 Hz with area norm, float16 rounding, log10(10000 mel + 1). REQUIRES > 256 samples.
FrontendConfig musicnn_frontend_config();

}  // namespace earshot
