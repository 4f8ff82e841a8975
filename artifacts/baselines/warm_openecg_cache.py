"""Fill the embedding cache with OpenECG embeddings (the cache keys `ecgfm probe` uses).

Run from the repository root in the evaluation environment (see README.md); this is the
script that computed the OpenECG embeddings of the JSON runs here (reformatted for ruff).
"""

import logging
import time

from ecgfm.eval import embed_task, get_task
from ecgfm.eval.baseline_openecg import OpenECGEncoder

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

enc = OpenECGEncoder()
for name, root, opts in [
    ("ptbxl-superclass", "../shared/data/ptbxl", {"leads": "I"}),
    ("cinc2017", "../shared/data/cinc2017", {}),
]:
    data = get_task(name, **opts).load(root)
    t = time.time()
    emb = embed_task(enc, data, preset=enc.preset, model_id=enc.model_id, batch_size=64,
                     cache_dir="/work/cache/embeddings", progress=True)  # fmt: skip
    print(name, emb.embeddings.shape, emb.from_cache, round(time.time() - t, 1), flush=True)
