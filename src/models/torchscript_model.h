// Generic TorchScript embedding model ("torchscript:PATH"): a scripted module that maps log-mel
// patches to embeddings, plus a JSON model card that says how to make the patches. The card is
// read from the archive's extra file "model_card.json" (torch.jit.save(..., _extra_files=...)),
// else from the sidecar file PATH.json. tests/tiny_torchscript.h writes an example with libtorch.
//
// Card (JSON object):
//   name             string, required: the model's persisted name (change it when outputs change)
//   dim              int > 0, required: embedding size; forward() must return [P, dim]
//   sample_rate_hz   int, required: rate embed() expects (must equal frontend.sample_rate_hz if
//                    that is given)
//   frontend         object, required: FrontendConfig fields (features/frontend_config.h) with
//                    the same names; nested "stft", "mel", "log" objects; enums as strings:
//                    window hann_periodic|hann_symmetric|hamming_periodic, placement start|center,
//                    framing none|center_reflect, spectrum magnitude|power, scale htk|slaney,
//                    triangles mel|hz, norm none|slaney, log.kind ln|log10. Missing = default.
//   patch_frames     int > 0, required; patch_hop_frames int > 0 (default patch_frames)
//   input_layout     "NCHW_time_mel" ([P,1,frames,mels], default) or "NCHW_mel_time"
//   description, license   optional strings
//   labels           optional list of strings: if forward() returns a tuple (embeddings [P,dim],
//                    scores [P,len(labels)]), the scores are returned with these names
// Thread-safety: the model's embed() may be called concurrently.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "features/frontend_config.h"
#include "models/embedding_model.h"
#include "models/model_registry.h"

namespace earshot {

enum class InputLayout {
    kTimeMel,  // "NCHW_time_mel": [P, 1, patch_frames, n_mels]
    kMelTime,  // "NCHW_mel_time": [P, 1, n_mels, patch_frames]
};

struct TorchScriptCard {
    std::string name;
    std::string description;
    std::string license;
    int dim = 0;
    int sample_rate_hz = 0;
    FrontendConfig frontend;
    int patch_frames = 0;
    int patch_hop_frames = 0;
    InputLayout input_layout = InputLayout::kTimeMel;
    std::vector<std::string> labels;
};

// Parses a model card (format above). kInvalidArgument naming the field for a missing or
// malformed field or an unknown enum string (listing the allowed ones). source names the card
// in messages.
Result<TorchScriptCard> parse_torchscript_card(std::string_view json,
                                               std::string_view source = "model card");

// Loads a TorchScript archive and its card. Embeddings: one row per patch of patch_frames
// log-mel frames, hop patch_hop_frames; the log-mel is padded at the end with the front end's
// silence value so the last patch is complete (and so that short input gives one patch).
// Errors: kNotFound if pt_path is missing; kCorruption if it is not a TorchScript archive or
// has no card (neither extra file nor sidecar); kInvalidArgument for a bad card.
Result<std::unique_ptr<EmbeddingModel>> make_torchscript_model(const std::filesystem::path& pt_path,
                                                               const ModelOptions& options);

}  // namespace earshot
