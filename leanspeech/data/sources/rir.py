"""Room impulse responses simulated with pyroomacoustics: shoebox rooms with RT60 spread over 0.1-1.5 s.

Absorption comes from the inverse Sabine formula; the early part is image-source (order 3) and the tail
ray-traced, which keeps a 1.5 s room under a second of compute. Each response is cached under a hash of
its parameters, so rebuilding (or building another corpus with the same draws) reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.sources.base import BuildContext, Source, existing_duration, run_jobs, write_clip
from leanspeech.registry import SOURCES

RT60_RANGE = (0.1, 1.5)
SIMULATION_VERSION = 1  # bump when the simulation changes, so old cache entries are not reused


def default_cache_dir() -> Path:
    return Path(os.environ.get("LEANSPEECH_CACHE", Path.home() / ".cache" / "leanspeech")) / "rir"


def draw_room(rng: np.random.Generator) -> dict:
    """Room size, target RT60 and positions; small rooms for short RT60 so that absorption stays below 1."""
    import pyroomacoustics as pra

    rt60 = float(rng.uniform(*RT60_RANGE))
    while True:
        scale = float(rng.uniform(0.3, 1.0)) if rt60 < 0.3 else 1.0
        dims = [float(rng.uniform(3, 10) * scale + 2), float(rng.uniform(3, 8) * scale + 2), float(rng.uniform(2.4, 4))]
        try:
            absorption, _ = pra.inverse_sabine(rt60, dims)
        except ValueError:
            continue  # too large a room for so short an RT60: draw again
        margin = 0.5
        source = [float(rng.uniform(margin, d - margin)) for d in dims]
        mic = [float(rng.uniform(margin, d - margin)) for d in dims]
        return {"rt60": round(rt60, 4), "dims": [round(d, 3) for d in dims], "absorption": round(float(absorption), 5),
                "source": [round(x, 3) for x in source], "mic": [round(x, 3) for x in mic]}


def simulate_rir(room: dict, rate: int, seed: int) -> np.ndarray:
    import pyroomacoustics as pra

    pra.constants.set("num_threads", 1)  # with threads the ray tracer is not reproducible
    pra.random.seed(seed)
    shoebox = pra.ShoeBox(room["dims"], fs=rate, materials=pra.Material(room["absorption"]), max_order=3,
                          ray_tracing=True, air_absorption=True)
    shoebox.set_ray_tracing(receiver_radius=0.5, n_rays=5000, energy_thres=1e-5)
    shoebox.add_source(room["source"])
    shoebox.add_microphone(room["mic"])
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float32)


def schroeder_rt60(rir: np.ndarray, rate: int) -> float:
    import pyroomacoustics as pra

    return float(pra.experimental.measure_rt60(rir, fs=rate, decay_db=30))


@dataclass(frozen=True)
class RirJob:
    origin: str
    room: dict
    seed: int
    cache_dir: Path
    entry: ManifestEntry
    out: Path


def cached_rir(job: RirJob, rate: int) -> np.ndarray:
    key = hashlib.sha1(json.dumps([job.room, rate, job.seed, SIMULATION_VERSION], sort_keys=True).encode()).hexdigest()
    cached = job.cache_dir / f"{key[:20]}.npy"
    if cached.is_file():
        return np.load(cached, allow_pickle=False)
    rir = simulate_rir(job.room, rate, job.seed)
    job.cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.npy")
    np.save(tmp, rir)
    os.replace(tmp, cached)
    return rir


def make_rir(job: RirJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        duration = write_clip(job.out, entry.path, cached_rir(job, entry.sample_rate), entry.sample_rate,
                              entry.sample_rate, normalize_peak=0.99, bits=24)
    rir, rate = load_audio(path)  # measured from the file itself, so a rebuild reports the same value
    entry.extra["rt60"] = f"{schroeder_rt60(rir, rate):.3f}"
    entry.duration = duration
    return entry


@SOURCES.register("shoebox-rir")
class ShoeboxRir(Source):
    """`minutes` are minutes of speech to reverberate: RIRS_PER_MINUTE responses each, at least one per split."""

    kind = "rir"
    rirs_per_minute = 6

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        cache_dir = ctx.cache_dir or default_cache_dir()
        jobs = []
        for split in SPLITS:
            for index in range(max(1, round(self.rirs_per_minute * minutes.get(split, 0)))):
                rng = ctx.rng(self.registry_name, split, index)
                room = draw_room(rng)
                name = f"room-{split}-{index:04d}"
                entry = ManifestEntry(
                    path=ctx.clip_path("rir", split, name), kind="rir", split=split, speaker=name,
                    source=self.registry_name, duration=0.0, sample_rate=ctx.sample_rate, license="generated",
                    extra={"rt60_target": f"{room['rt60']:.3f}", "room_dims": "x".join(f"{d:.2f}" for d in room["dims"]),
                           "distance_m": f"{np.linalg.norm(np.subtract(room['source'], room['mic'])):.2f}"},
                )
                jobs.append(RirJob(f"shoebox-rir {name}", room, int(rng.integers(2**31)), cache_dir, entry, ctx.out))
        return run_jobs(ctx, make_rir, jobs, "room impulse responses")
