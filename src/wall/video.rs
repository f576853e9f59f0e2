//! The GPU picture path: per-camera Y/U/V `R8Unorm` textures created once per resolution and
//! written directly from the render world (`RenderQueue::write_texture`, FFmpeg's stride as
//! `bytes_per_row`), and the `Material2d` whose WGSL shader converts YUV to RGB. No CPU colour
//! conversion or scaling, and no new asset per frame. The upload is where a shown picture's
//! latency ends: it is measured there, in the render world, and reported once to the main
//! world (a bounded channel), which keeps it with the stream the picture came from.

use std::collections::HashMap;

use bevy::asset::{RenderAssetUsages, load_internal_asset, uuid_handle};
use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{
    AsBindGroup, Extent3d, TexelCopyBufferLayout, TextureDimension, TextureFormat, TextureUsages,
};
use bevy::render::renderer::RenderQueue;
use bevy::render::texture::GpuImage;
use bevy::render::{Extract, ExtractSchedule, Render, RenderApp, RenderSystems};
use bevy::shader::ShaderRef;
use bevy::sprite_render::{Material2d, Material2dPlugin};

use crate::camera::streams::ShownLatency;
use crate::camera::{CameraStream, Display, LatestFrame, Streams};
use crate::media::{SharedFrame, clock_code, unix_ms};

const YUV_SHADER: Handle<Shader> = uuid_handle!("5b0f3c52-58a4-4b8e-9a0e-6f1d1c0a7e11");

/// YUV 4:2:0 → RGB. `params`: x full range, y BT.709, z reserved (1), w brightness.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct YuvMaterial {
    #[uniform(0)]
    pub params: Vec4,
    #[texture(1)]
    #[sampler(2)]
    pub y: Handle<Image>,
    #[texture(3)]
    #[sampler(4)]
    pub u: Handle<Image>,
    #[texture(5)]
    #[sampler(6)]
    pub v: Handle<Image>,
}

impl Material2d for YuvMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(YUV_SHADER)
    }
}

/// The GPU textures of one camera and the material that draws them.
#[derive(Component, Debug, Clone)]
pub struct VideoTextures {
    pub planes: [Handle<Image>; 3],
    pub material: Handle<YuvMaterial>,
    /// Luma size the textures have; (0, 0) until the first picture.
    pub size: (u32, u32),
}

pub fn plugin(app: &mut App) {
    load_internal_asset!(
        app,
        YUV_SHADER,
        "../../assets/shaders/yuv.wgsl",
        Shader::from_wgsl
    );
    app.add_plugins(Material2dPlugin::<YuvMaterial>::default());
    let (tx, rx) = crossbeam_channel::bounded(UPLOAD_REPORTS);
    app.insert_resource(UploadReports(rx)).add_systems(
        Update,
        keep_upload_latency.in_set(crate::WallSystems::Ingest),
    );
    if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
        render_app
            .insert_resource(UploadReporter(tx))
            .init_resource::<PendingUploads>()
            .add_systems(ExtractSchedule, extract_uploads)
            .add_systems(
                Render,
                write_uploads.in_set(RenderSystems::PrepareResources),
            );
    }
}

/// A texture for one plane, allocated on the GPU only (no CPU copy kept).
pub fn plane_image(width: u32, height: u32) -> Image {
    let mut image = Image::new_uninit(
        Extent3d {
            width: width.max(1),
            height: height.max(1),
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        TextureFormat::R8Unorm,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.texture_descriptor.usage |= TextureUsages::COPY_DST | TextureUsages::TEXTURE_BINDING;
    image
}

/// A material with 1×1 placeholder planes; real ones come with the first picture.
pub fn new_textures(
    images: &mut Assets<Image>,
    materials: &mut Assets<YuvMaterial>,
) -> VideoTextures {
    let planes = [
        images.add(plane_image(1, 1)),
        images.add(plane_image(1, 1)),
        images.add(plane_image(1, 1)),
    ];
    let material = materials.add(YuvMaterial {
        params: Vec4::new(0.0, 0.0, 1.0, 1.0),
        y: planes[0].clone(),
        u: planes[1].clone(),
        v: planes[2].clone(),
    });
    VideoTextures {
        planes,
        material,
        size: (0, 0),
    }
}

/// Main world: when a camera's picture size changes, allocates textures of the new size
/// (once per resolution, not per frame) and points the material at them.
pub fn resize_textures(
    mut cameras: Query<(&LatestFrame, &mut VideoTextures)>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<YuvMaterial>>,
) {
    for (latest, mut tex) in &mut cameras {
        let Some(frame) = &latest.0 else { continue };
        let full = if frame.full_range { 1.0 } else { 0.0 };
        // HD and larger pictures are BT.709; SD is BT.601 (what cameras that do not say use).
        let bt709 = if frame.height >= 720 { 1.0 } else { 0.0 };
        let resized = (frame.width, frame.height) != tex.size;
        if resized {
            tex.size = (frame.width, frame.height);
            tex.planes = [0, 1, 2]
                .map(|i| images.add(plane_image(frame.planes[i].width, frame.planes[i].height)));
        }
        let wanted = (full, bt709);
        let current = materials
            .get(&tex.material)
            .map(|m| (m.params.x, m.params.y));
        if (resized || current != Some(wanted))
            && let Some(mut m) = materials.get_mut(&tex.material)
        {
            m.params.x = full;
            m.params.y = bt709;
            m.y = tex.planes[0].clone();
            m.u = tex.planes[1].clone();
            m.v = tex.planes[2].clone();
        }
    }
}

/// Sets a tile's brightness (dimmed while the camera is not live); touches the material only
/// when the value changes, so unchanged materials are not re-extracted.
pub fn set_brightness(
    materials: &mut Assets<YuvMaterial>,
    material: &Handle<YuvMaterial>,
    value: f32,
) {
    if materials
        .get(material)
        .is_some_and(|m| (m.params.w - value).abs() > f32::EPSILON)
        && let Some(mut m) = materials.get_mut(material)
    {
        m.params.w = value;
    }
}

/// Most upload reports waiting for the main world (16 cameras at 60 fps for a second);
/// beyond that they are dropped, never waited for.
const UPLOAD_REPORTS: usize = 1024;

/// A live picture uploaded to a tile: the stream it came from, when it arrived, when it was
/// uploaded, and its glass-to-glass age if the camera burns its clock in.
struct UploadReport {
    stream: Entity,
    arrival: std::time::Instant,
    at: std::time::Instant,
    glass_ms: Option<u32>,
}

/// Render world: where upload reports go.
#[derive(Resource)]
struct UploadReporter(crossbeam_channel::Sender<UploadReport>);

/// Main world: upload reports from the render world.
#[derive(Resource)]
struct UploadReports(crossbeam_channel::Receiver<UploadReport>);

/// Each reported upload into its stream's latency.
fn keep_upload_latency(reports: Res<UploadReports>, streams: Query<&ShownLatency>) {
    for r in reports.0.try_iter() {
        if let Ok(meter) = streams.get(r.stream) {
            meter.0.record(r.at, r.arrival, r.glass_ms);
        }
    }
}

/// One picture to write, and the stream whose latency it ends (none for a recorded picture).
struct Upload {
    planes: [AssetId<Image>; 3],
    frame: SharedFrame,
    stream: Option<Entity>,
}

/// Render world: pictures to write this frame.
#[derive(Resource, Default)]
struct PendingUploads {
    uploads: Vec<Upload>,
    /// Last picture written per luma texture, so a picture is written once.
    written: HashMap<AssetId<Image>, u64>,
}

/// What the render world reads of each camera.
type UploadSource = (
    &'static LatestFrame,
    &'static VideoTextures,
    Option<&'static Streams>,
    &'static Display,
    &'static crate::camera::ViewLocked,
    Has<crate::camera::Replay>,
);

fn extract_uploads(
    mut pending: ResMut<PendingUploads>,
    cameras: Extract<Query<UploadSource>>,
    kinds: Extract<Query<&CameraStream>>,
) {
    pending.uploads.clear();
    for (latest, tex, streams, display, locked, replay) in &cameras {
        // A locked camera's pictures never reach the GPU.
        if locked.0 {
            continue;
        }
        if let Some(frame) = &latest.0
            && (frame.width, frame.height) == tex.size
        {
            pending.uploads.push(Upload {
                planes: [tex.planes[0].id(), tex.planes[1].id(), tex.planes[2].id()],
                frame: frame.clone(),
                // A recorded picture's age is not the live stream's latency.
                stream: streams.filter(|_| !replay).and_then(|s| {
                    s.iter()
                        .find(|e| kinds.get(*e).is_ok_and(|k| k.kind == display.current))
                }),
            });
        }
    }
}

fn write_uploads(
    mut pending: ResMut<PendingUploads>,
    images: Res<RenderAssets<GpuImage>>,
    queue: Res<RenderQueue>,
    reporter: Res<UploadReporter>,
) {
    let PendingUploads { uploads, written } = &mut *pending;
    for Upload {
        planes: ids,
        frame,
        stream,
    } in uploads.drain(..)
    {
        if written.get(&ids[0]) == Some(&frame.seq) {
            continue;
        }
        let mut complete = true;
        for (id, plane) in ids.iter().zip(frame.planes.iter()) {
            let Some(gpu) = images.get(*id) else {
                complete = false;
                continue;
            };
            let size = gpu.texture_descriptor.size;
            let rows = plane.height as usize;
            if (size.width, size.height) != (plane.width, plane.height)
                || plane.data.len() < plane.stride as usize * rows
            {
                complete = false;
                continue;
            }
            queue.write_texture(
                gpu.texture.as_image_copy(),
                &plane.data,
                TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(plane.stride),
                    rows_per_image: Some(plane.height),
                },
                size,
            );
        }
        written.insert(ids[0], frame.seq);
        if complete && let Some(stream) = stream {
            let _ = reporter.0.try_send(UploadReport {
                stream,
                arrival: frame.arrival,
                at: std::time::Instant::now(),
                glass_ms: frame
                    .capture_ms
                    .and_then(|c| clock_code::age_ms(c, unix_ms())),
            });
        }
    }
    written.retain(|id, _| images.get(*id).is_some());
}
