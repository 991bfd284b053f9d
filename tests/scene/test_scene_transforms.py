"""Transforms: every operation against hand-computed matrices, and Mitsuba's composition order
(each new operation multiplies on the left)."""
import numpy as np
import pytest

from diffrender.scene import load_scene
from diffrender.scene import transforms as tf


def emitter_matrix(xml_scene, ops: str) -> np.ndarray:
    path = xml_scene(f"""
        <emitter type="point">
            <transform name="to_world">
                {ops}
            </transform>
        </emitter>""")
    return load_scene(path).emitters[0].to_world


def test_translate_forms(xml_scene):
    m = emitter_matrix(xml_scene, '<translate value="1, 2, 3"/>')
    np.testing.assert_array_equal(m[:3, 3], [1, 2, 3])
    np.testing.assert_array_equal(m[:3, :3], np.eye(3))
    m = emitter_matrix(xml_scene, '<translate y="5"/>')  # missing components are 0
    np.testing.assert_array_equal(m[:3, 3], [0, 5, 0])
    m = emitter_matrix(xml_scene, '<translate value="1 2 3"/>')  # Mitsuba also splits on spaces
    np.testing.assert_array_equal(m[:3, 3], [1, 2, 3])


def test_scale_forms(xml_scene):
    np.testing.assert_array_equal(emitter_matrix(xml_scene, '<scale value="2"/>'),
                                  np.diag([2.0, 2, 2, 1]))
    np.testing.assert_array_equal(emitter_matrix(xml_scene, '<scale value="1, 2, 3"/>'),
                                  np.diag([1.0, 2, 3, 1]))
    # x/y/z form: missing components are 1 (Mitsuba's parse_vector default for scale)
    np.testing.assert_array_equal(emitter_matrix(xml_scene, '<scale x="2"/>'),
                                  np.diag([2.0, 1, 1, 1]))


@pytest.mark.parametrize("ops, expected", [
    ('<rotate z="1" angle="90"/>', [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),  # x -> y
    ('<rotate x="1" angle="90"/>', [[1, 0, 0], [0, 0, -1], [0, 1, 0]]),  # y -> z
    ('<rotate y="1" angle="90"/>', [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]),  # z -> x
    ('<rotate x="1" angle="-90"/>', [[1, 0, 0], [0, 0, 1], [0, -1, 0]]),  # z -> y
    # 120 degrees about (1,1,1) permutes the axes x -> y -> z -> x; axis need not be unit
    ('<rotate value="2, 2, 2" angle="120"/>', [[0, 0, 1], [1, 0, 0], [0, 1, 0]]),
])
def test_rotate(xml_scene, ops, expected):
    m = emitter_matrix(xml_scene, ops)
    np.testing.assert_allclose(m[:3, :3], expected, atol=1e-12)
    np.testing.assert_array_equal(m[:3, 3], 0)


def test_rotate_arbitrary_axis_is_rodrigues():
    axis = np.array([0.3, -0.5, 0.8])
    a = axis / np.linalg.norm(axis)
    m = tf.rotate(axis, 37.0)[:3, :3]
    np.testing.assert_allclose(m @ a, a, atol=1e-12)  # axis is fixed
    np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-12)
    assert np.linalg.det(m) == pytest.approx(1.0)
    # angle between a perpendicular vector and its image is 37 degrees, right-handed
    p = np.cross(a, [1.0, 0, 0])
    p /= np.linalg.norm(p)
    q = m @ p
    assert np.degrees(np.arccos(np.dot(p, q))) == pytest.approx(37.0)
    assert np.dot(np.cross(p, q), a) > 0


def test_matrix_16_and_9_values_row_major(xml_scene):
    m = emitter_matrix(xml_scene, '<matrix value="0 -1 0 5  1 0 0 6  0 0 1 7  0 0 0 1"/>')
    np.testing.assert_array_equal(m, [[0, -1, 0, 5], [1, 0, 0, 6], [0, 0, 1, 7], [0, 0, 0, 1]])
    m = emitter_matrix(xml_scene, '<matrix value="2 0 0 0 3 0 0 0 4"/>')
    np.testing.assert_array_equal(m, np.diag([2.0, 3, 4, 1]))


def test_lookat_matrix(xml_scene):
    m = emitter_matrix(xml_scene, '<lookat origin="0, 0, 0" target="1, 0, 0" up="0, 0, 1"/>')
    # columns: left = up x dir = (0,1,0), up' = dir x left = (0,0,1), dir = (1,0,0), origin
    np.testing.assert_allclose(m, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                               atol=1e-15)
    m = emitter_matrix(xml_scene, '<lookat origin="1, 2, 3" target="1, 2, 5" up="0, 3, 0"/>')
    np.testing.assert_allclose(m, [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]],
                               atol=1e-15)


def test_lookat_non_orthogonal_up_is_orthogonalised():
    m = tf.lookat([0, 0, 0], [0, 0, -2], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(m[:3, 2], [0, 0, -1])
    np.testing.assert_allclose(m[:3, 1], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(m[:3, 0], [-1, 0, 0], atol=1e-15)


def test_lookat_without_up_picks_one(xml_scene):
    m = emitter_matrix(xml_scene, '<lookat origin="0, 0, 0" target="0, 0, 1"/>')
    np.testing.assert_allclose(m[:3, 2], [0, 0, 1])
    np.testing.assert_allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-12)


def test_composition_order_left_multiplication(xml_scene):
    # translate then rotate: M = R @ T; the origin goes to R @ (1, 0, 0) = (0, 1, 0)
    m = emitter_matrix(xml_scene, '<translate x="1"/><rotate z="1" angle="90"/>')
    np.testing.assert_allclose(m[:3, 3], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(m, tf.rotate([0, 0, 1], 90) @ tf.translate([1, 0, 0]))
    # rotate then translate: M = T @ R; the origin goes to (1, 0, 0)
    m = emitter_matrix(xml_scene, '<rotate z="1" angle="90"/><translate x="1"/>')
    np.testing.assert_allclose(m[:3, 3], [1, 0, 0], atol=1e-15)
    # three operations: scale, rotate, translate applied in document order
    m = emitter_matrix(xml_scene, '<scale value="2"/><rotate z="1" angle="90"/>'
                                  '<translate value="0, 0, 1"/>')
    p = m @ [1.0, 0, 0, 1]
    np.testing.assert_allclose(p, [0, 2, 1, 1], atol=1e-15)


def test_point_emitter_position_is_translation(xml_scene):
    path = xml_scene("""
        <emitter type="point">
            <point name="position" value="1, 2, 3"/>
        </emitter>""")
    em = load_scene(path).emitters[0]
    np.testing.assert_array_equal(em.position, [1, 2, 3])
    np.testing.assert_array_equal(em.to_world, tf.translate([1, 2, 3]))
