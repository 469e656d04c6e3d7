"""Run by tests/test_cuda_kernels.py in a subprocess with NUMBA_ENABLE_CUDASIM=1: the numba.cuda kernels
executed by CUDA's simulator on the CPU, compared with the PyTorch path. Prints one JSON object."""
import json
import sys

import torch

from facebench.render.backends.cuda.kernels import (assemble_cuda, depth_map_cuda, light_space_cuda, rasterize_cuda,
                                           screen_space_cuda, vertex_faces, vertex_normals_cuda)
from facebench.render.backends.cpu.assemble import assemble_numba
from facebench.render.backends.cpu.mesh import light_space_numba, screen_space_numba
from facebench.render.backends.cpu.rasterize import depth_map_numba
from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
from facebench.render.scene.heads.procedural import build_procedural_head
from facebench.render.backends.torch.rasterize import rasterize
from facebench.render.renderer import FaceRenderer, _vertex_normals


def raster_case(cull: bool, alpha: bool = False) -> dict:
    """Random triangles; with ``alpha``, random per-vertex alphas in [0, 1] (the alpha test)."""
    g = torch.Generator().manual_seed(11)
    B, V, H, W = 2, 60, 20, 24
    v = torch.rand(B, V, 3, generator=g) * torch.tensor([W + 6.0, H + 6.0, 1.5]) - torch.tensor([3.0, 3.0, -0.5])
    faces = torch.randint(0, V, (40, 3), generator=g)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    mask = torch.rand(B, faces.shape[0], generator=g) > 0.2
    a_v = torch.rand(B, V, generator=g) if alpha else None
    a = rasterize(v, faces, H, W, face_mask=mask, cull_backfaces=cull, alpha=a_v)
    b = rasterize_cuda(v, faces, H, W, face_mask=mask, cull_backfaces=cull, alpha=a_v)
    return {"tri_equal": bool((a.tri == b.tri).all()), "covered": int((a.tri >= 0).sum()),
            "bary_max_diff": float((a.bary - b.bary).abs().max())}


def raster_phases_case() -> dict:
    """Drawing phases: a near quad over the whole image (phase 0), far triangles behind it and near ones in
    front of it (phase 1), and duplicates of phase-0 triangles in phase 1 (exact depth ties, which the lower
    index must win). The result must equal drawing everything at once."""
    g = torch.Generator().manual_seed(5)
    B, H, W = 2, 24, 24
    quad = torch.tensor([[-2.0, -2.0, 2.0], [W + 2.0, -2.0, 2.0], [W + 2.0, H + 2.0, 2.0], [-2.0, H + 2.0, 2.0]])
    n = 30
    pts = torch.rand(n * 3, 3, generator=g) * torch.tensor([W, H, 0.0])
    depth = torch.where(torch.arange(n * 3) // 3 % 2 == 0, 0.8, 3.0)  # alternately behind / in front of the quad
    pts[:, 2] = depth + torch.rand(n * 3, generator=g) * 0.1
    v = torch.cat([quad, pts]).expand(B, -1, -1).contiguous()
    tris = torch.arange(n * 3).view(n, 3) + 4
    faces = torch.cat([torch.tensor([[0, 1, 2], [0, 2, 3]]), tris, tris[:5]])
    phase = torch.cat([torch.zeros(2 + n // 2, dtype=torch.long), torch.ones(n - n // 2 + 5, dtype=torch.long)])
    a = rasterize_cuda(v, faces, H, W, cull_backfaces=False)
    b = rasterize_cuda(v, faces, H, W, cull_backfaces=False, phase=phase)
    ids = set(a.tri.unique().tolist())
    return {"tri_equal": bool((a.tri == b.tri).all()), "bary_equal": bool((a.bary == b.bary).all()),
            "late_visible": bool(any(int(phase[i]) == 1 for i in ids if i >= 0)), "covered": int((a.tri >= 0).sum())}


def raster_edges_case() -> dict:
    """A grid whose vertices sit on pixel centres: many centres lie exactly on shared edges, where only
    the top-left rule decides (each centre must go to exactly the triangle the PyTorch path picks)."""
    n, step = 5, 4.0
    ys, xs = torch.meshgrid(torch.arange(n + 1.0), torch.arange(n + 1.0), indexing="ij")
    v = torch.stack([xs.flatten() * step + 0.5, ys.flatten() * step + 0.5, torch.ones((n + 1) ** 2)], -1)
    quads = [(r * (n + 1) + c, r * (n + 1) + c + 1, (r + 1) * (n + 1) + c, (r + 1) * (n + 1) + c + 1)
             for r in range(n) for c in range(n)]
    faces = torch.tensor([t for a, b, c, d in quads for t in ((a, c, b), (b, c, d))])
    faces = torch.cat([faces, faces[:, [0, 2, 1]]])  # both windings (culling off)
    a = rasterize(v[None], faces, 24, 24, cull_backfaces=False)
    b = rasterize_cuda(v[None], faces, 24, 24, cull_backfaces=False)
    return {"tri_equal": bool((a.tri == b.tri).all()), "covered": int((a.tri >= 0).sum()),
            "bary_max_diff": float((a.bary - b.bary).abs().max())}


def geometry_case() -> dict:
    """Vertex normals against torch (scatter-add normals)."""
    g = torch.Generator().manual_seed(5)
    v = torch.randn(2, 12, 3, generator=g)
    faces = torch.tensor([[0, 1, 2], [2, 1, 3], [3, 4, 2], [5, 6, 7], [7, 6, 8], [0, 2, 9], [9, 2, 4], [1, 0, 10]])
    n = vertex_normals_cuda(v, faces, vertex_faces(faces, 12))  # vertex 11 is in no face: zero normal
    return {"normals_max_diff": float((n - _vertex_normals(v, faces)).abs().max()),
            "unused_vertex_normal": float(n[:, 11].abs().max())}


def assemble_case() -> dict:
    """The posed combined mesh of a small made-up rig (a head strip, a shell over part of it with fixed
    offsets on two of its vertices, two rigid triangles following the eyes) against the numba pass, which tests/test_backends
    holds to the PyTorch geometry."""
    g = torch.Generator().manual_seed(8)
    B, V = 2, 9
    vh = torch.randn(B, V, 3, generator=g) * 0.1
    head_faces = torch.tensor([[0, 1, 2], [2, 1, 3], [3, 4, 2], [4, 5, 3], [5, 6, 4], [6, 7, 5], [7, 8, 6]])
    nh = _vertex_normals(vh, head_faces)
    shell_vids = torch.tensor([2, 3, 4, 5])
    thick = torch.rand(B, 4, generator=g) * 0.01
    rigid = torch.randn(6, 3, generator=g) * 0.1
    shell_offset = torch.tensor([[0.0, 0, 0], [0, 0, 0], [0.01, -0.02, 0.005], [-0.01, -0.03, 0]])
    faces = torch.cat([head_faces, torch.tensor([[9, 10, 11], [11, 10, 12]]), torch.tensor([[13, 14, 15], [16, 17, 18]])])
    eye_mid, scale = torch.randn(B, 3, generator=g) * 0.01, 1 + torch.rand(B, generator=g) * 0.1
    ang = torch.rand(B, 3, generator=g)
    from facebench.render.renderer import pose_rotations

    Rs = pose_rotations(torch.stack([ang[:, 0] * 80, ang[:, 1] * 20, ang[:, 2] * 10], -1))
    # Follow weights: the head strip from the torso's rotation through blends to the head's, the shell
    # vertices as their head vertices, the rigid vertices with the head, the torso with itself.
    w_head = torch.linspace(0, 1, V) ** 0.7
    pose_w = torch.cat([w_head, w_head[shell_vids], torch.ones(6)])
    follow = torch.tensor([0.0, 0.4, 1.0, 0.0, 0.2, 1.0])  # a frame, part-way along a temple, long hair
    head_scale = 1 + torch.rand(B, 3, generator=g) * 0.2
    args = (vh, nh, shell_vids, thick, shell_offset, rigid, follow, eye_mid, scale, head_scale, torch.tensor([0.0, 0.02, 0.05]),
            Rs, pose_w, torch.tensor([0.0, -0.1, -0.02]))
    a_v, a_n = assemble_numba(*args, faces, len(head_faces))
    b_v, b_n = assemble_cuda(*args, faces, vertex_faces(faces, V + 4 + 6))
    # Screen, light space and the shadow depth of the posed mesh, against their numba counterparts.
    cam, M = torch.tensor([1.0, 1.3]), torch.tensor([[[200.0, 3.0, 50.0], [-3.0, 200.0, 60.0]]]).expand(B, -1, -1)
    basis = torch.linalg.qr(torch.randn(B, 3, 3, generator=g)).Q
    ls_a, ls_b = light_space_numba(a_v, basis, 24), light_space_cuda(a_v, basis, 24)
    fm = torch.rand(B, len(faces), generator=g) > 0.2
    d_a, d_b = depth_map_numba(ls_a, faces, 24, 24, fm), depth_map_cuda(ls_a, faces, 24, 24, fm)
    from facebench.render.renderer import pose_points

    torch_head = pose_points(vh, w_head, Rs, torch.tensor([0.0, -0.1, -0.02]))
    return {"v_max_diff": float((a_v - b_v).abs().max()), "n_max_diff": float((a_n - b_n).abs().max()),
            "head_vs_torch_max_diff": float((a_v[:, :V] - torch_head).abs().max()),
            "screen_max_diff": float((screen_space_numba(a_v, cam, M) - screen_space_cuda(a_v, cam, M)).abs().max()),
            "light_max_diff": float((ls_a - ls_b).abs().max()),
            "depth_covered": int((d_a > 0).sum()), "depth_cover_equal": bool(((d_a > 0) == (d_b > 0)).all()),
            "depth_max_diff": float((d_a - d_b).abs().max())}


def shade_case() -> dict:
    head = build_procedural_head()
    fac = sample_factors(5, range(2), range(2), frozenset(FACTOR_GROUPS), head.num_identity)
    fac.hair[:] = 3  # medium hair: the painted hairline, hair shell and brows are in the picture
    fac.facewear[0], fac.headwear[1] = 1, 1  # painted mask and hat borders too
    # At 20 px a pixel spans ~1 cm of face, past every skin texture octave: both paths shade with an eighth
    # of the footprint so that the texture is part of the comparison.
    import dataclasses

    import facebench.render.backends.cuda.kernels as kernels
    import facebench.render.backends.torch.backend as torch_backend

    def finer(shade):
        return lambda s: shade(dataclasses.replace(s, footprint=s.footprint / 8))

    torch_backend.shade_torch, kernels.shade_cuda = finer(torch_backend.shade_torch), finer(kernels.shade_cuda)
    ref = FaceRenderer(head, "cpu", backend="torch").render(fac, 20)
    r = FaceRenderer(head, "cpu", backend="cuda")
    # The simulator runs every thread in Python: keep the raster (tens of thousands of triangle threads)
    # on the PyTorch path here; raster_case covers the raster kernel.
    r.backend_impl.raster = lambda scene, scr, H, W, fmask, cull, faces=None, alpha=None: rasterize(
        scr, r.faces if faces is None else faces, H, W, face_mask=fmask, cull_backfaces=cull, alpha=alpha)
    # Likewise the per-vertex passes over the head's 27k vertices (assemble_case covers those kernels).
    torch_r = FaceRenderer(head, "cpu", backend="torch")
    r.posed, r.shadow_map = torch_r.posed, torch_r.shadow_map
    r.backend_impl.screen_space = torch_r.backend_impl.screen_space
    out = r.render(fac, 20)
    return {"image_max_diff": float((ref.image - out.image).abs().max()),
            "seg_agree": float((ref.seg == out.seg).float().mean()),
            "classes": int(len(torch.unique(ref.seg))),
            "class_ids": sorted(int(c) for c in torch.unique(ref.seg)),
            "vis_equal": bool((ref.ldmk_visible == out.ldmk_visible).all())}


if __name__ == "__main__":
    res = {"raster_cull": raster_case(True), "raster_nocull": raster_case(False), "raster_edges": raster_edges_case(),
           "raster_alpha": raster_case(False, alpha=True),
           "raster_phases": raster_phases_case(),
           "geometry": geometry_case(), "assemble": assemble_case()}
    if "--shade" in sys.argv:
        res["shade"] = shade_case()
    print(json.dumps(res))
