"""Django admin: an operator's window onto the data.

Generated data (descriptions, sentences, tokens) and the audit log are read-only here:
every status change and edit must go through reviewq.services, which guard the state machine
and write AuditEvent rows. Catalogs, products, thresholds and error categories stay editable. Users are managed within the three roles (RoleUserAdmin).
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count

from reviewq.core.models import (
    ApiToken,
    AuditEvent,
    Catalog,
    Comment,
    Description,
    ErrorCategory,
    GenerationRun,
    Product,
    Sentence,
    Thresholds,
    Token,
)
from reviewq.core.roles import ROLES
from reviewq.core.transitions import descriptions_delete
from reviewq.dashboard.forms import ThresholdsAdminForm
from reviewq.gating.service import thresholds_update


class ReadOnlyAdminMixin:
    """View-only: no add, change or delete, whatever the user's permissions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class GeneratedDataGoesWithMixin:
    """Deleting a description (or its product or catalog) takes its sentences and tokens (and a
    catalog its generation runs) with it: the operator needs no delete permission on those,
    which are read-only on their own."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = perms_needed - {m._meta.verbose_name for m in (Sentence, Token, GenerationRun)}
        return deleted, counts, perms_needed, protected


class DeletesDescriptionsMixin(GeneratedDataGoesWithMixin):
    """Deleting products (or whole catalogs) deletes their descriptions through
    descriptions_delete first, so each one's deletion is audited like a direct one."""

    descriptions_lookup = ""  # from Description to this model

    def delete_model(self, request, obj):
        with transaction.atomic():
            descriptions_delete(
                descriptions=Description.objects.filter(**{self.descriptions_lookup: obj}), actor=request.user
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            descriptions_delete(
                descriptions=Description.objects.filter(**{f"{self.descriptions_lookup}__in": queryset}),
                actor=request.user,
            )
            super().delete_queryset(request, queryset)


@admin.register(Catalog)
class CatalogAdmin(DeletesDescriptionsMixin, admin.ModelAdmin):
    descriptions_lookup = "product__catalog"
    list_display = ["name", "product_count", "publish_confident_now", "created_at"]
    list_filter = ["publish_confident_now"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, obj):
        return obj.product_count


@admin.register(Product)
class ProductAdmin(DeletesDescriptionsMixin, admin.ModelAdmin):
    descriptions_lookup = "product"
    list_display = ["sku", "name", "catalog", "updated_at"]
    list_filter = ["catalog"]
    search_fields = ["sku", "name"]
    list_select_related = ["catalog"]
    readonly_fields = ["created_at", "updated_at"]


class SentenceInline(admin.TabularInline):
    model = Sentence
    fields = ["index", "text", "band", "decision", "mean_logprob", "min_logprob", "risk"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Description)
class DescriptionAdmin(GeneratedDataGoesWithMixin, admin.ModelAdmin):
    """Status and generated fields are read-only: transitions go through reviewq.services.

    Deleting stays possible (it cascades to sentences and tokens) as an operator's way out; it
    goes through descriptions_delete, so the audit trail stays and records the deletion.
    """

    list_display = ["id", "product", "status", "risk", "provider", "model", "attempts", "updated_at"]
    list_filter = ["status", "provider", "has_logprobs", "product__catalog"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    inlines = [SentenceInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        descriptions_delete(descriptions=Description.objects.filter(pk=obj.pk), actor=request.user)

    def delete_queryset(self, request, queryset):
        descriptions_delete(descriptions=queryset, actor=request.user)


@admin.register(Sentence)
class SentenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "description", "index", "band", "decision", "risk", "mean_logprob", "min_logprob"]
    list_filter = ["band", "decision"]
    search_fields = ["text", "edited_text", "description__product__sku"]
    list_select_related = ["description"]
    raw_id_fields = ["description", "decided_by"]
    show_full_result_count = False


@admin.register(Token)
class TokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "description", "sentence", "position", "text", "logprob"]
    list_select_related = ["description", "sentence"]
    raw_id_fields = ["description", "sentence"]
    show_full_result_count = False  # millions of rows: skip the second COUNT(*)


@admin.register(Thresholds)
class ThresholdsAdmin(admin.ModelAdmin):
    form = ThresholdsAdminForm
    list_display = ["__str__", "publish_above", "flag_below", "critical_floor", "updated_by", "updated_at"]
    list_select_related = ["catalog", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def save_model(self, request, obj, form, change):
        # Through the service, so the change is audited and stored sentences are re-gated.
        thresholds_update(
            catalog=obj.catalog,
            publish_above=obj.publish_above,
            flag_below=obj.flag_below,
            critical_floor=obj.critical_floor,
            actor=request.user,
        )
        obj.pk = Thresholds.objects.get(catalog=obj.catalog).pk


@admin.register(ErrorCategory)
class ErrorCategoryAdmin(admin.ModelAdmin):
    """Admins edit the list reviewers choose from. A category in use cannot be deleted (decisions
    point at it): untick "active" to stop offering it."""

    list_display = ["key", "label", "counts_as_error", "active"]
    list_editable = ["label", "counts_as_error", "active"]
    list_display_links = ["key"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "author", "description", "text"]
    list_select_related = ["author", "description"]
    raw_id_fields = ["author", "description"]
    search_fields = ["text", "author__username"]
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "description", "sentence_index", "catalog"]
    list_filter = ["action"]
    search_fields = ["action", "note", "actor__username"]
    list_select_related = ["actor", "description", "catalog"]
    raw_id_fields = ["actor", "description", "catalog"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(GenerationRun)
class GenerationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "catalog", "mode", "status", "queued", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "mode"]
    list_select_related = ["catalog", "created_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    exclude = ["key_hash"]


# --- users: people, not privileges ----------------------------------------------------------

# Fields only a superuser may change: they grant privileges beyond the three roles.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "user_permissions")

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class RoleUserAdmin(UserAdmin):
    """Django's UserAdmin, fenced for the admin role (auth.change_user without being superuser):
    the privilege flags are read-only, groups are limited to the three roles, superusers cannot
    be changed, and only your own password can be changed here."""

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        return (*readonly, *PRIVILEGE_FIELDS, "last_login", "date_joined")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES).order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        # The groups field offers only roles: keep any other group the user already had.
        kept = list(form.instance.groups.exclude(name__in=ROLES)) if change and not request.user.is_superuser else []
        super().save_related(request, form, formsets, change)
        if kept:
            form.instance.groups.add(*kept)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser and str(request.user.pk) != unquote(id):
            raise PermissionDenied("Only a superuser may set another user's password.")
        return super().user_change_password(request, id, form_url)
