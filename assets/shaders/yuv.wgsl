// OpticLink: planar YUV 4:2:0 → RGB for one camera tile. Three R8Unorm textures (Y full size,
// U and V half size), sampled with the same UV; matrix and range chosen per frame.
#import bevy_sprite::mesh2d_vertex_output::VertexOutput

struct YuvParams {
    // x: 1 = full range (JPEG levels), 0 = video range (16..235)
    // y: 1 = BT.709, 0 = BT.601
    // z: horizontal texture scale (picture width / stride) for padded rows
    // w: brightness multiplier (dims tiles without a live picture)
    flags: vec4<f32>,
};

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> params: YuvParams;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var y_tex: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var y_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var u_tex: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var u_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(5) var v_tex: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(6) var v_sampler: sampler;

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fragment(mesh: VertexOutput) -> @location(0) vec4<f32> {
    let uv = vec2<f32>(mesh.uv.x * params.flags.z, mesh.uv.y);
    var y = textureSample(y_tex, y_sampler, uv).r;
    var u = textureSample(u_tex, u_sampler, uv).r - 0.5;
    var v = textureSample(v_tex, v_sampler, uv).r - 0.5;
    if (params.flags.x < 0.5) {
        y = (y - 16.0 / 255.0) * (255.0 / 219.0);
        u = u * (255.0 / 224.0);
        v = v * (255.0 / 224.0);
    }
    var rgb: vec3<f32>;
    if (params.flags.y > 0.5) {
        rgb = vec3<f32>(y + 1.5748 * v, y - 0.1873 * u - 0.4681 * v, y + 1.8556 * u);
    } else {
        rgb = vec3<f32>(y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u);
    }
    rgb = clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)) * params.flags.w;
    // The picture is sRGB-encoded; the render target expects linear light.
    return vec4<f32>(srgb_to_linear(rgb), 1.0);
}
