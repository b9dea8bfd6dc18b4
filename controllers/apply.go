package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// ownership says whether an applied child carries the PrefectServer's
// controller reference, so Kubernetes deletes it with the PrefectServer.
type ownership bool

const (
	// owned children are garbage collected with their PrefectServer and
	// watched through Owns().
	owned ownership = true
	// unowned children outlive their PrefectServer: the retained SQLite volume.
	unowned ownership = false
)

// apply is the one write path for children: server-side apply of the
// builder's object with the fixed field owner, forcing ownership of the fields
// the builder sets, so a hand edit of one of them is undone and fields the
// builder leaves alone (server defaults, other controllers' fields) are kept.
// Applying an unchanged object is a no-op on the server: it neither bumps the
// resourceVersion nor triggers a watch event. On success obj holds the object
// as the server returned it (status included).
//
// An unowned object's payload carries no owner references, so applying it
// removes a controller reference this field owner set before.
func (r *PrefectServerReconciler) apply(ctx context.Context, ps *v1alpha1.PrefectServer, obj client.Object, own ownership) error {
	return applyChild(ctx, r.Client, ps, obj, own)
}

// applyChild is apply for any owner (every controller writes its children
// this way). The child lands in the owner's namespace unless it names its
// own (a worker's RoleBinding in a namespace it runs Jobs in), and only a
// child in the owner's namespace can be owned.
func applyChild(ctx context.Context, c client.Client, owner, obj client.Object, own ownership) error {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(owner.GetNamespace())
	}
	obj.SetOwnerReferences(nil)
	if own {
		if err := controllerutil.SetControllerReference(owner, obj, c.Scheme()); err != nil {
			return err
		}
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	// The payload states intent only: status belongs to the object's
	// controller, and server-set metadata is not ours to claim.
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")

	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)
}

// deleteChild deletes a child this PrefectServer controls; one already gone
// is fine. Dependents (a Job's pods) go in the background.
func (r *PrefectServerReconciler) deleteChild(ctx context.Context, obj client.Object) error {
	return deleteChild(ctx, r.Client, obj)
}

// deleteChild deletes obj, exactly the object read (its UID); one already
// gone is fine.
func deleteChild(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Delete(ctx, obj,
		client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: new(obj.GetUID())})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", obj.GetName(), err)
	}
	return nil
}
